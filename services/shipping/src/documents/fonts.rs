//! The two fonts every PDF document embeds, subset to the glyphs it uses:
//! Noto Sans Regular (Latin, Greek and Cyrillic, from the `notosans` crate) and
//! Noto Sans CJK JP Regular (Hangul, Kana, Han, CJK symbols and Latin), read at
//! run time from Debian's `fonts-noto-cjk` package. Both are under the SIL Open
//! Font License 1.1, which allows embedding them in documents; the subsets a
//! document embeds keep the fonts' names and copyright notices.
//!
//! A character is set in the first font that has it, so Latin words keep one
//! design and Korean or Japanese text takes the CJK font; a character no
//! font has (every CJK one when the package is not installed) prints as `?`.

use std::sync::OnceLock;

use ttf_parser::{Face, GlyphId, Tag};

use super::DocumentError;

/// Debian's `fonts-noto-cjk`: Noto Sans CJK Regular, one face per region.
const CJK_PATH: &str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc";
/// The collection's Japanese face: Han characters take their Japanese forms;
/// Hangul (every syllable), Kana and Latin are the same in every face.
const CJK_FACE: u32 = 0;

/// One embedded font.
pub struct Font {
    /// The PostScript name, for the PDF's BaseFont.
    pub name: &'static str,
    /// The font file, or the collection that holds it at `index`.
    pub data: &'static [u8],
    pub index: u32,
    face: Face<'static>,
    /// CFF outlines (embedded as FontFile3) rather than TrueType (FontFile2).
    pub cff: bool,
}

impl Font {
    fn parse(name: &'static str, data: &'static [u8], index: u32) -> Result<Font, DocumentError> {
        let face = Face::parse(data, index)
            .map_err(|err| DocumentError(format!("font {name} does not parse: {err}")))?;
        let cff = face.raw_face().table(Tag::from_bytes(b"CFF ")).is_some();
        Ok(Font {
            name,
            data,
            index,
            face,
            cff,
        })
    }

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

/// The fonts in the order characters try them: Noto Sans, then Noto Sans CJK
/// JP when its file reads and parses.
pub fn fonts() -> Result<&'static [Font], DocumentError> {
    static CJK: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    static FONTS: OnceLock<Result<Vec<Font>, DocumentError>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let mut fonts = vec![Font::parse("NotoSans-Regular", notosans::REGULAR_TTF, 0)?];
            let cjk = CJK.get_or_init(|| std::fs::read(CJK_PATH).ok());
            if let Some(cjk) = cjk
                && let Ok(font) = Font::parse("NotoSansCJKjp-Regular", cjk, CJK_FACE)
            {
                fonts.push(font);
            }
            Ok(fonts)
        })
        .as_deref()
        .map_err(Clone::clone)
}

/// How one character is set: the font (its index in [`fonts`]), its glyph,
/// and the character the glyph shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub font: usize,
    pub glyph: u16,
    pub shows: char,
}

/// How `c` is set: in the first font that has it, else as `?` of the first font.
pub fn set(fonts: &[Font], c: char) -> Setting {
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
