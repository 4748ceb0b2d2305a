//! Printable documents: shipping labels as PDF (A6) or ZPL (4x6 inch
//! thermal), packing slips as PDF (A4), and the combined file of a bulk label
//! run. Both label formats carry the tracking number as text and as a Code 128
//! barcode.
//!
//! - this module: what each document shows and where (pages of text lines and
//!   barcodes), and the ZPL label.
//! - `fonts`: the embedded fonts, Latin and CJK ([`Fonts`], loaded once at
//!   start), so any address prints in its own script (a Korean, Japanese or
//!   German one alike).
//! - `pdf`: pages as a PDF, each font subset to the glyphs the file uses.

mod fonts;
mod pdf;

use std::fmt::Write as _;

use barcoders::sym::code128::Code128;

pub use self::{
    fonts::{CJK_COLLECTION, Fonts},
    pdf::pdf,
};

/// A document could not be rendered: a font failed to load or subset. Not
/// caused by any input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DocumentError(String);

/// One line of text on a page: position in points from the bottom left, size.
#[derive(Debug, Clone)]
pub struct TextLine {
    /// Points from the left edge.
    pub x: u32,
    /// Points from the bottom edge, to the baseline.
    pub y: u32,
    /// The font size in points.
    pub size: u32,
    /// What it says.
    pub text: String,
}

/// A barcode on a page: dark and light modules from left to right, drawn from
/// (x, y) at the bottom left, each `module` points wide.
#[derive(Debug, Clone, PartialEq)]
pub struct Barcode {
    /// Points from the left edge to the first module.
    pub x: f32,
    /// Points from the bottom edge.
    pub y: f32,
    /// The bars' height in points.
    pub height: f32,
    /// One module's width in points.
    pub module: f32,
    /// The modules from left to right, true for dark.
    pub modules: Vec<bool>,
}

/// Modules of light margin a scanner needs on each side of a Code 128 symbol.
const QUIET_ZONE: usize = 10;

impl Barcode {
    /// `value` as Code 128 (code set B) in a box from (x, y) of `width` and
    /// `height` points, quiet zones included; `None` when `value` is empty or
    /// holds other than printable ASCII, which code set B cannot carry.
    pub fn code128(value: &str, x: f32, y: f32, width: f32, height: f32) -> Option<Barcode> {
        if value.is_empty() || !value.bytes().all(|byte| (b' '..=b'~').contains(&byte)) {
            return None;
        }
        // "Ɓ" selects code set B in barcoders' syntax.
        let modules: Vec<bool> = Code128::new(format!("\u{0181}{value}"))
            .ok()?
            .encode()
            .into_iter()
            .map(|module| module == 1)
            .collect();
        let module = width / (modules.len() + 2 * QUIET_ZONE) as f32;
        Some(Barcode {
            x: x + QUIET_ZONE as f32 * module,
            y,
            height,
            module,
            modules,
        })
    }
}

/// A page of text and barcodes.
#[derive(Debug, Clone)]
pub struct Page {
    /// Width in points.
    pub width: u32,
    /// Height in points.
    pub height: u32,
    /// The text, from the top down.
    pub lines: Vec<TextLine>,
    /// The barcodes.
    pub barcodes: Vec<Barcode>,
}

/// What a label shows. PII: the addresses.
#[derive(Debug, Clone)]
pub struct LabelContent {
    /// The carrier's code.
    pub carrier: String,
    /// The carrier's product.
    pub carrier_service: String,
    /// The tracking number, in text and as a barcode.
    pub tracking_number: String,
    /// The sender's address, line by line.
    pub from: Vec<String>,
    /// The recipient's address, line by line.
    pub to: Vec<String>,
    /// How many parcels the shipment has.
    pub parcels: usize,
    /// Their weight together.
    pub weight_grams: i64,
    /// The order (or, on a return label, the return) it ships.
    pub reference: String,
}

/// One line of a packing slip.
#[derive(Debug, Clone)]
pub struct SlipLine {
    /// The SKU packed.
    pub sku: String,
    /// Units packed.
    pub quantity: i32,
    /// The product's name; the SKU is printed when empty.
    pub description: String,
}

/// A6 in points.
const A6: (u32, u32) = (298, 420);
/// A4 in points.
const A4: (u32, u32) = (595, 842);

/// The label as one A6 page: the tracking number as a barcode above the
/// number in text at the bottom.
pub fn label_page(label: &LabelContent) -> Page {
    // (size, text, space below) from the top down.
    let mut entries = vec![
        (
            12,
            format!("{} - {}", label.carrier, label.carrier_service),
            22,
        ),
        (8, "FROM".to_owned(), 11),
    ];
    entries.extend(label.from.iter().map(|line| (8, line.clone(), 10)));
    entries.push((10, "TO".to_owned(), 14));
    entries.extend(label.to.iter().map(|line| (12, line.clone(), 15)));
    entries.push((
        8,
        format!(
            "{} parcel(s), {} g, ref {}",
            label.parcels, label.weight_grams, label.reference
        ),
        20,
    ));
    let mut y = A6.1 - 30;
    let mut lines = Vec::with_capacity(entries.len() + 1);
    for (size, text, gap) in entries {
        lines.push(TextLine {
            x: 20,
            y,
            size,
            text,
        });
        y = y.saturating_sub(gap);
    }
    // The number in text at the foot, the bars above it: both stay on the
    // page however long the addresses are.
    lines.push(TextLine {
        x: 20,
        y: 24,
        size: 16,
        text: label.tracking_number.clone(),
    });
    let barcode = Barcode::code128(&label.tracking_number, 10.0, 46.0, (A6.0 - 20) as f32, 60.0);
    Page {
        width: A6.0,
        height: A6.1,
        lines,
        barcodes: barcode.into_iter().collect(),
    }
}

/// The label as ZPL for a 4x6 inch label at 203 dpi; the tracking number is
/// printed in text and as a Code 128 barcode.
pub fn label_zpl(label: &LabelContent) -> String {
    let mut zpl = String::from("^XA\n^CI28\n");
    let mut y: u32 = 40;
    let mut field = |zpl: &mut String, size: u32, text: &str| {
        let _ = writeln!(zpl, "^FO40,{y}^A0N,{size},{size}^FD{}^FS", zpl_text(text));
        y = y.saturating_add(size + 10);
    };
    field(
        &mut zpl,
        30,
        &format!("{} - {}", label.carrier, label.carrier_service),
    );
    field(&mut zpl, 22, "FROM");
    for line in &label.from {
        field(&mut zpl, 22, line);
    }
    field(&mut zpl, 30, "TO");
    for line in &label.to {
        field(&mut zpl, 34, line);
    }
    field(
        &mut zpl,
        22,
        &format!(
            "{} parcel(s), {} g, ref {}",
            label.parcels, label.weight_grams, label.reference
        ),
    );
    let _ = writeln!(
        zpl,
        "^FO40,{}^BY3^BCN,120,N,N,N^FD{}^FS",
        y.saturating_add(10),
        zpl_text(&label.tracking_number)
    );
    let _ = writeln!(
        zpl,
        "^FO40,{}^A0N,40,40^FD{}^FS",
        y.saturating_add(150),
        zpl_text(&label.tracking_number)
    );
    zpl.push_str("^XZ\n");
    zpl
}

/// ZPL field data may not hold its command prefixes.
fn zpl_text(text: &str) -> String {
    text.chars()
        .map(|c| if matches!(c, '^' | '~') { ' ' } else { c })
        .collect()
}

/// A packing slip: one A4 page listing the goods.
pub fn packing_slip_page(
    reference: &str,
    tracking_number: &str,
    to: &[String],
    lines: &[SlipLine],
) -> Page {
    let mut text = vec![
        (18, "PACKING SLIP".to_owned()),
        (10, format!("Order {reference}")),
        (10, format!("Tracking number {tracking_number}")),
        (10, String::new()),
        (10, "Ship to".to_owned()),
    ];
    text.extend(to.iter().map(|line| (10, line.clone())));
    text.push((10, String::new()));
    text.push((10, "Qty  SKU  Description".to_owned()));
    for line in lines {
        let description = if line.description.is_empty() {
            &line.sku
        } else {
            &line.description
        };
        text.push((
            10,
            format!("{:>3}  {}  {description}", line.quantity, line.sku),
        ));
    }
    let mut y = A4.1 - 60;
    let mut page_lines = Vec::new();
    for (size, line) in text {
        page_lines.push(TextLine {
            x: 50,
            y,
            size,
            text: line,
        });
        y = y.saturating_sub(size + 8);
    }
    Page {
        width: A4.0,
        height: A4.1,
        lines: page_lines,
        barcodes: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Noto Sans and Debian's Noto Sans CJK; fails the test, saying what to
    /// install, when the collection is missing.
    fn cjk() -> Fonts {
        match Fonts::with_cjk(Path::new(CJK_COLLECTION)) {
            Ok(fonts) => fonts,
            Err(err) => panic!("Korean and Japanese need Debian's fonts-noto-cjk installed: {err}"),
        }
    }

    fn korean() -> LabelContent {
        LabelContent {
            to: vec![
                "김민준".into(),
                "서울특별시 강남구 테헤란로 152".into(),
                "06236 서울".into(),
            ],
            ..label()
        }
    }

    fn text_of(bytes: &[u8]) -> String {
        lopdf::Document::load_mem(bytes)
            .expect("a PDF that parses")
            .extract_text(&[1])
            .expect("text that decodes")
    }

    fn label() -> LabelContent {
        LabelContent {
            carrier: "simulator".into(),
            carrier_service: "Simulated Standard".into(),
            tracking_number: "SIM000000000042".into(),
            from: vec!["Warehouse (Berlin)".into()],
            to: vec!["Ada Lovelace".into(), "Straße 1".into()],
            parcels: 1,
            weight_grams: 1200,
            reference: "o-1".into(),
        }
    }

    fn pages_of(bytes: &[u8]) -> usize {
        lopdf::Document::load_mem(bytes)
            .expect("a PDF that parses")
            .get_pages()
            .len()
    }

    #[test]
    fn a_pdf_label_is_one_page_holding_the_tracking_number_as_bars() {
        let page = label_page(&label());
        assert_eq!(page.barcodes.len(), 1);
        let bars = &page.barcodes[0];
        // Start, 15 characters, check and stop: 11 modules each, 13 the stop.
        assert_eq!(bars.modules.len(), 11 * 17 + 13);
        // The bars and their quiet zones fit the page.
        assert!(bars.x - 10.0 * bars.module >= 0.0);
        assert!(bars.x + (bars.modules.len() + 10) as f32 * bars.module <= A6.0 as f32 + 0.01);
        let bytes = pdf(&Fonts::latin(), &[page]).unwrap();
        assert!(bytes.starts_with(b"%PDF-"));
        assert_eq!(pages_of(&bytes), 1);
    }

    #[test]
    fn a_label_embeds_only_the_glyphs_it_uses() {
        let bytes = pdf(&cjk(), &[label_page(&korean())]).unwrap();
        // The CJK font collection is 19 MB; a label is a few dozen KB.
        assert!(bytes.len() < 64 * 1024, "{} bytes", bytes.len());
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("+NotoSansCJKjp-Regular"));
        assert!(text.contains("+NotoSans-Regular"));
        assert!(text_of(&bytes).contains("서울특별시 강남구 테헤란로 152"));
    }

    #[test]
    fn without_the_cjk_font_korean_prints_as_question_marks_and_latin_as_written() {
        let bytes = pdf(&Fonts::latin(), &[label_page(&korean())]).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains("NotoSansCJK"));
        let text = text_of(&bytes);
        assert!(text.contains("????? ??? ???? 152"), "{text:?}");
        assert!(text.contains("06236 ??"), "{text:?}");
        assert!(text.contains("SIM000000000042"), "{text:?}");
    }

    #[test]
    fn a_cjk_collection_that_is_missing_or_no_font_is_refused_naming_it() {
        for path in ["/nonexistent/NotoSansCJK-Regular.ttc", "Cargo.toml"] {
            match Fonts::with_cjk(Path::new(path)) {
                Ok(_) => panic!("{path} loaded as a font"),
                Err(err) => assert!(err.to_string().contains(path), "{err}"),
            }
        }
    }

    #[test]
    fn a_latin_only_document_embeds_no_cjk_font() {
        let bytes = pdf(&cjk(), &[label_page(&label())]).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("NotoSansCJK"));
    }

    #[test]
    fn characters_no_font_has_are_set_as_question_marks() {
        let loaded = cjk();
        let fonts = loaded.parse().unwrap();
        let question = fonts::set(&fonts, '?');
        for missing in ['\u{1F600}', '\u{0}', '\u{10FFFF}'] {
            let setting = fonts::set(&fonts, missing);
            assert_eq!(setting.shows, '?');
            assert_eq!(setting.glyph, question.glyph);
        }
        // Latin in the Latin font, Hangul and Kanji in the CJK one.
        assert_eq!(fonts::set(&fonts, 'ß').font, 0);
        assert_eq!(fonts::set(&fonts, 'Ł').font, 0);
        assert_eq!(fonts::set(&fonts, '테').font, 1);
        assert_eq!(fonts::set(&fonts, '東').font, 1);
        assert_eq!(fonts::set(&fonts, 'の').font, 1);
    }

    #[test]
    fn only_printable_ascii_becomes_a_barcode() {
        assert!(Barcode::code128("SIM1", 0.0, 0.0, 100.0, 10.0).is_some());
        assert!(Barcode::code128("", 0.0, 0.0, 100.0, 10.0).is_none());
        assert!(Barcode::code128("SIM\u{0181}1", 0.0, 0.0, 100.0, 10.0).is_none());
        assert!(Barcode::code128("SIM\n1", 0.0, 0.0, 100.0, 10.0).is_none());
    }

    #[test]
    fn a_zpl_label_is_one_label_with_the_tracking_number_as_text_and_barcode() {
        let zpl = label_zpl(&LabelContent {
            reference: "o^1".into(),
            ..label()
        });
        assert!(zpl.starts_with("^XA"));
        assert!(zpl.trim_end().ends_with("^XZ"));
        assert_eq!(zpl.matches("^FDSIM000000000042^FS").count(), 2);
        assert!(zpl.contains("^BCN"));
        assert!(zpl.contains("ref o 1"));
    }

    #[test]
    fn a_multi_page_pdf_counts_its_pages() {
        let slip = packing_slip_page(
            "o-1",
            "SIM000000000042",
            &label().to,
            &[SlipLine {
                sku: "TEE-M".into(),
                quantity: 2,
                description: "T-shirt, size M".into(),
            }],
        );
        let bytes = pdf(&cjk(), &[label_page(&label()), slip, label_page(&label())]).unwrap();
        assert_eq!(pages_of(&bytes), 3);
    }
}
