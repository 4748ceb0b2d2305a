//! Writing pages as a PDF with `pdf-writer`: text in the embedded fonts, each
//! a CID font (Identity-H, two bytes a glyph) subset to the glyphs the file
//! uses, with a ToUnicode map so the text can be searched and copied; barcodes
//! as filled bars.

use std::collections::BTreeMap;

use pdf_writer::{
    Content, Finish as _, Name, Pdf, Rect, Ref, Str,
    types::{CidFontType, FontFlags, SystemInfo, UnicodeCmap},
};
use sha2::{Digest as _, Sha256};
use subsetter::GlyphRemapper;
use ttf_parser::{RawFace, Tag};

use super::{
    DocumentError, Page,
    fonts::{self, Font, Fonts},
};

const IDENTITY_H: Name<'static> = Name(b"Identity-H");
const SYSTEM_INFO: SystemInfo<'static> = SystemInfo {
    registry: Str(b"Adobe"),
    ordering: Str(b"Identity"),
    supplement: 0,
};

/// The glyphs one font sets in a file: their new ids and what they show.
#[derive(Default)]
struct Used {
    remapper: GlyphRemapper,
    /// New glyph id -> the character it shows, for the ToUnicode map.
    shows: BTreeMap<u16, char>,
}

/// A line of text as runs of one font each: (font, new glyph ids).
type Runs = Vec<(usize, Vec<u16>)>;

/// Sets `text` in the fonts, recording the glyphs each font must embed.
fn set_text(fonts: &[Font<'_>], used: &mut [Used], text: &str) -> Runs {
    let mut runs: Runs = Vec::new();
    for c in text.chars() {
        let setting = fonts::set(fonts, c);
        let Some(font) = used.get_mut(setting.font) else {
            continue;
        };
        let glyph = font.remapper.remap(setting.glyph);
        font.shows.entry(glyph).or_insert(setting.shows);
        match runs.last_mut() {
            Some((last, glyphs)) if *last == setting.font => glyphs.push(glyph),
            _ => runs.push((setting.font, vec![glyph])),
        }
    }
    runs
}

fn resource_name(font: usize) -> String {
    format!("F{font}")
}

/// A page's content stream.
fn content(page: &Page, runs: &[Runs]) -> Vec<u8> {
    let mut content = Content::new();
    for (line, runs) in page.lines.iter().zip(runs) {
        content.begin_text();
        content.next_line(line.x as f32, line.y as f32);
        for (font, glyphs) in runs {
            let name = resource_name(*font);
            content.set_font(Name(name.as_bytes()), line.size as f32);
            let bytes: Vec<u8> = glyphs
                .iter()
                .flat_map(|glyph| glyph.to_be_bytes())
                .collect();
            content.show(Str(&bytes));
        }
        content.end_text();
    }
    for barcode in &page.barcodes {
        // Runs of dark modules, each one filled bar.
        let mut start = None;
        for (i, dark) in barcode.modules.iter().chain([&false]).enumerate() {
            match (start, *dark) {
                (None, true) => start = Some(i),
                (Some(first), false) => {
                    content.rect(
                        barcode.x + first as f32 * barcode.module,
                        barcode.y,
                        (i - first) as f32 * barcode.module,
                        barcode.height,
                    );
                    start = None;
                }
                _ => {}
            }
        }
        content.fill_nonzero();
    }
    content.finish().into_vec()
}

/// A six-letter subset tag from the glyphs embedded, as PDF names subsets.
fn subset_tag(font: &Font<'_>, used: &Used) -> String {
    let mut hasher = Sha256::new();
    hasher.update(font.name.as_bytes());
    for glyph in used.remapper.remapped_gids() {
        hasher.update(glyph.to_be_bytes());
    }
    hasher
        .finalize()
        .iter()
        .take(6)
        .map(|byte| char::from(b'A' + byte % 26))
        .collect()
}

/// Hands out the file's object ids, 1 upwards.
struct Refs(i32);

impl Refs {
    fn next(&mut self) -> Ref {
        self.0 = self.0.saturating_add(1);
        Ref::new(self.0)
    }
}

/// Writes one font as a Type 0 font over a CID font with its subset embedded.
fn write_font(
    pdf: &mut Pdf,
    refs: &mut Refs,
    type0: Ref,
    font: &Font<'_>,
    used: &Used,
) -> Result<(), DocumentError> {
    let [cid, descriptor, cmap, data] = [(); 4].map(|()| refs.next());
    let base_font = format!("{}+{}", subset_tag(font, used), font.name);
    let subset = subsetter::subset(font.data, font.index, &used.remapper)
        .map_err(|err| DocumentError(format!("font {} not subset: {err}", font.name)))?;
    // A CFF font embeds its bare CFF program; a TrueType font the whole file.
    let program = if font.cff {
        let raw = RawFace::parse(&subset, 0).map_err(|err| {
            DocumentError(format!("subset of {} does not parse: {err}", font.name))
        })?;
        raw.table(Tag::from_bytes(b"CFF "))
            .ok_or_else(|| DocumentError(format!("subset of {} has no CFF", font.name)))?
            .to_vec()
    } else {
        subset
    };

    pdf.type0_font(type0)
        .base_font(Name(base_font.as_bytes()))
        .encoding_predefined(IDENTITY_H)
        .descendant_font(cid)
        .to_unicode(cmap);
    let mut cid_font = pdf.cid_font(cid);
    cid_font
        .subtype(if font.cff {
            CidFontType::Type0
        } else {
            CidFontType::Type2
        })
        .base_font(Name(base_font.as_bytes()))
        .system_info(SYSTEM_INFO)
        .font_descriptor(descriptor)
        .default_width(0.0);
    if !font.cff {
        cid_font.cid_to_gid_map_predefined(Name(b"Identity"));
    }
    let widths: Vec<f32> = used
        .remapper
        .remapped_gids()
        .map(|glyph| font.advance(glyph))
        .collect();
    cid_font.widths().consecutive(0, widths);
    cid_font.finish();

    let mut unicode = UnicodeCmap::new(Name(b"Custom"), SYSTEM_INFO);
    for (glyph, shows) in &used.shows {
        unicode.pair(*glyph, *shows);
    }
    pdf.cmap(cmap, &unicode.finish());

    let mut stream = pdf.stream(data, &program);
    if font.cff {
        stream.pair(Name(b"Subtype"), Name(b"CIDFontType0C"));
    }
    stream.finish();

    let [left, bottom, right, top] = font.bbox();
    let (ascent, descent, cap_height) = font.metrics();
    let mut descriptor = pdf.font_descriptor(descriptor);
    descriptor
        .name(Name(base_font.as_bytes()))
        .flags(FontFlags::SYMBOLIC)
        .bbox(Rect::new(left, bottom, right, top))
        .italic_angle(0.0)
        .ascent(ascent)
        .descent(descent)
        .cap_height(cap_height)
        .stem_v(80.0);
    if font.cff {
        descriptor.font_file3(data);
    } else {
        descriptor.font_file2(data);
    }
    Ok(())
}

/// A PDF of `pages` set in `fonts`.
pub fn pdf(fonts: &Fonts, pages: &[Page]) -> Result<Vec<u8>, DocumentError> {
    let fonts = fonts.parse()?;
    let mut used: Vec<Used> = fonts.iter().map(|_| Used::default()).collect();
    let page_runs: Vec<Vec<Runs>> = pages
        .iter()
        .map(|page| {
            page.lines
                .iter()
                .map(|line| set_text(&fonts, &mut used, &line.text))
                .collect()
        })
        .collect();

    let mut refs = Refs(0);
    let catalog = refs.next();
    let tree = refs.next();
    // A font is embedded only when some text uses it: more than .notdef.
    let font_refs: Vec<Option<Ref>> = used
        .iter()
        .map(|used| (used.remapper.num_gids() > 1).then(|| refs.next()))
        .collect();
    let page_refs: Vec<(Ref, Ref)> = pages.iter().map(|_| (refs.next(), refs.next())).collect();

    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(page_refs.iter().map(|(page, _)| *page))
        .count(i32::try_from(pages.len()).unwrap_or(i32::MAX));
    for ((page, runs), (page_ref, content_ref)) in pages.iter().zip(&page_runs).zip(&page_refs) {
        let mut writer = pdf.page(*page_ref);
        writer
            .parent(tree)
            .media_box(Rect::new(0.0, 0.0, page.width as f32, page.height as f32))
            .contents(*content_ref);
        let mut resources = writer.resources();
        let mut font_names = resources.fonts();
        for (font, reference) in font_refs.iter().enumerate() {
            if let Some(reference) = reference {
                font_names.pair(Name(resource_name(font).as_bytes()), *reference);
            }
        }
        font_names.finish();
        resources.finish();
        writer.finish();
        pdf.stream(*content_ref, &content(page, runs));
    }
    for ((font, used), reference) in fonts.iter().zip(&used).zip(&font_refs) {
        if let Some(reference) = reference {
            write_font(&mut pdf, &mut refs, *reference, font, used)?;
        }
    }
    Ok(pdf.finish())
}
