//! The fonts PDF documents embed, each subset to the glyphs a document uses:
//! Noto Sans Regular (Latin, Greek and Cyrillic, compiled in from the
//! `notosans` crate) and Noto Sans CJK JP Regular (Hangul, Kana, Han, CJK
//! symbols and Latin), read once at start from the collection of Debian's
//! `fonts-noto-cjk` package. Both are under the SIL Open Font License 1.1,
//! which allows embedding them in documents; an embedded subset keeps its
//! font's name and copyright notice.
//!
//! A character is set in the first font that has it, so Latin words keep one
//! design and Korean or Japanese text takes the CJK font; a character no
//! loaded font has (every CJK one when the collection could not be read)
//! prints as `?`.
//!
//! [`Fonts`] holds the files; each document parses them into [`Font`]s, cheap
//! views that look glyphs and metrics up in place.

use std::{borrow::Cow, path::Path};

use ttf_parser::{Face, GlyphId, Tag};

use super::DocumentError;

/// Where Debian's `fonts-noto-cjk` puts Noto Sans CJK Regular, one face per
/// region.
pub const CJK_COLLECTION: &str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc";

/// The collection's Japanese face: Han characters take their Japanese forms;
/// Hangul (every syllable), Kana and Latin are the same in every face.
const CJK_FACE: u32 = 0;

/// One font file, or a face of a collection.
struct FontFile {
    /// The PostScript name, for the PDF's BaseFont.
    name: &'static str,
    data: Cow<'static, [u8]>,
    /// The face in a collection; 0 in a single font file.
    index: u32,
}

impl FontFile {
    fn parse(&self) -> Result<Font<'_>, DocumentError> {
        let face = Face::parse(&self.data, self.index)
            .map_err(|err| DocumentError(format!("font {} does not parse: {err}", self.name)))?;
        let cff = face.raw_face().table(Tag::from_bytes(b"CFF ")).is_some();
        Ok(Font {
            name: self.name,
            data: &self.data,
            index: self.index,
            face,
            cff,
        })
    }
}

/// The fonts a service sets its documents in, loaded once at start.
pub struct Fonts {
    files: Vec<FontFile>,
}

impl Fonts {
    /// Noto Sans alone: CJK characters print as `?`.
    pub fn latin() -> Fonts {
        Fonts {
            files: vec![FontFile {
                name: "NotoSans-Regular",
                data: Cow::Borrowed(notosans::REGULAR_TTF),
                index: 0,
            }],
        }
    }

    /// Noto Sans, then Noto Sans CJK JP from the collection at `collection`
    /// (Debian's is [`CJK_COLLECTION`]); an error when it cannot be read or
    /// has no such face.
    pub fn with_cjk(collection: &Path) -> Result<Fonts, DocumentError> {
        let data = std::fs::read(collection)
            .map_err(|err| DocumentError(format!("cannot read {}: {err}", collection.display())))?;
        let cjk = FontFile {
            name: "NotoSansCJKjp-Regular",
            data: Cow::Owned(data),
            index: CJK_FACE,
        };
        cjk.parse()
            .map_err(|err| DocumentError(format!("{}: {err}", collection.display())))?;
        let mut fonts = Fonts::latin();
        fonts.files.push(cjk);
        Ok(fonts)
    }

    /// The fonts in the order characters try them, parsed for one document.
    pub fn parse(&self) -> Result<Vec<Font<'_>>, DocumentError> {
        self.files.iter().map(FontFile::parse).collect()
    }
}

/// One font as a document uses it.
pub struct Font<'a> {
    /// The PostScript name, for the PDF's BaseFont.
    pub name: &'static str,
    /// The font file, or the collection that holds it at `index`.
    pub data: &'a [u8],
    pub index: u32,
    face: Face<'a>,
    /// CFF outlines (embedded as FontFile3) rather than TrueType (FontFile2).
    pub cff: bool,
}

impl Font<'_> {
    /// The font's glyph of `c`, if it has one; control characters have none
    /// (some fonts map them to blank glyphs).
    pub fn glyph(&self, c: char) -> Option<u16> {
        if c.is_control() {
            return None;
        }
        self.face
            .glyph_index(c)
            .map(|glyph| glyph.0)
            .filter(|glyph| *glyph != 0)
    }

    /// Converts font units to the PDF's thousandths of the font size.
    fn per_mille(&self, units: f32) -> f32 {
        units * 1000.0 / f32::from(self.face.units_per_em())
    }

    /// A glyph's advance in thousandths of the font size.
    pub fn advance(&self, glyph: u16) -> f32 {
        let units = self.face.glyph_hor_advance(GlyphId(glyph)).unwrap_or(0);
        self.per_mille(f32::from(units))
    }

    /// The bounding box of every glyph: left, bottom, right, top.
    pub fn bbox(&self) -> [f32; 4] {
        let bbox = self.face.global_bounding_box();
        [bbox.x_min, bbox.y_min, bbox.x_max, bbox.y_max]
            .map(|units| self.per_mille(f32::from(units)))
    }

    /// Ascender, descender and cap height.
    pub fn metrics(&self) -> (f32, f32, f32) {
        let ascender = self.per_mille(f32::from(self.face.ascender()));
        let descender = self.per_mille(f32::from(self.face.descender()));
        let cap_height = self
            .face
            .capital_height()
            .map_or(ascender, |height| self.per_mille(f32::from(height)));
        (ascender, descender, cap_height)
    }
}

/// How one character is set: the font (its index in the document's fonts),
/// its glyph, and the character the glyph shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub font: usize,
    pub glyph: u16,
    pub shows: char,
}

/// How `c` is set: in the first font that has it, else as `?` of the first font.
pub fn set(fonts: &[Font<'_>], c: char) -> Setting {
    let found = fonts.iter().enumerate().find_map(|(font, face)| {
        face.glyph(c).map(|glyph| Setting {
            font,
            glyph,
            shows: c,
        })
    });
    found.unwrap_or_else(|| Setting {
        font: 0,
        glyph: fonts.first().and_then(|font| font.glyph('?')).unwrap_or(0),
        shows: '?',
    })
}
