//! Reading a PDF document back as a person or a scanner would: its text
//! through the fonts' ToUnicode maps, and the Code 128 barcode its bars draw.

use barcoders::sym::code128::Code128;
use lopdf::{Document, Object, content::Content};

/// The text of every page, one line of text a line.
pub fn text(pdf: &[u8]) -> String {
    let document = Document::load_mem(pdf).expect("a PDF that parses");
    let pages: Vec<u32> = document.get_pages().keys().copied().collect();
    document.extract_text(&pages).expect("text that decodes")
}

/// The dark modules drawn by the first page's filled rectangles, from the
/// first bar's left edge, in units of the narrowest bar.
fn modules(pdf: &[u8]) -> Vec<bool> {
    let document = Document::load_mem(pdf).expect("a PDF that parses");
    let page = *document.get_pages().values().next().expect("a page");
    let content = Content::decode(&document.get_page_content(page)).expect("content");
    let number = |object: &Object| object.as_float().expect("a number");
    let mut bars: Vec<(f32, f32)> = content
        .operations
        .iter()
        .filter(|operation| operation.operator == "re")
        .map(|operation| {
            (
                number(&operation.operands[0]),
                number(&operation.operands[2]),
            )
        })
        .collect();
    assert!(!bars.is_empty(), "no bars drawn");
    bars.sort_by(|a, b| a.0.total_cmp(&b.0));
    let module = bars
        .iter()
        .map(|(_, width)| *width)
        .fold(f32::MAX, f32::min);
    let left = bars[0].0;
    let mut modules = Vec::new();
    for (x, width) in bars {
        let start = ((x - left) / module).round() as usize;
        let end = start + (width / module).round() as usize;
        modules.resize(start, false);
        modules.resize(end, true);
    }
    modules
}

/// Code 128's eleven-module pattern of each code set B character, read off the
/// encoder (a symbol is start, data, check, stop).
fn set_b() -> Vec<(Vec<bool>, char)> {
    (b' '..=b'~')
        .map(char::from)
        .map(|c| {
            let symbol = Code128::new(format!("\u{0181}{c}")).unwrap().encode();
            let pattern = symbol[11..22].iter().map(|module| *module == 1).collect();
            (pattern, c)
        })
        .collect()
}

/// The value of the Code 128 code set B barcode drawn on the first page.
/// Panics unless the bars are one whole symbol with a correct check character.
pub fn barcode(pdf: &[u8]) -> String {
    let modules = modules(pdf);
    let table = set_b();
    // Start (11), data (11 each), check (11), stop (13).
    assert!(
        modules.len() >= 35 && (modules.len() - 13).is_multiple_of(11),
        "{} modules",
        modules.len()
    );
    let data = &modules[11..modules.len() - 24];
    let value: String = data
        .chunks(11)
        .map(|chunk| {
            table
                .iter()
                .find(|(pattern, _)| pattern == chunk)
                .map(|(_, c)| *c)
                .expect("a code set B character")
        })
        .collect();
    // The whole symbol, start, check and stop included, is the value's.
    let expected: Vec<bool> = Code128::new(format!("\u{0181}{value}"))
        .unwrap()
        .encode()
        .into_iter()
        .map(|module| module == 1)
        .collect();
    assert_eq!(modules, expected, "start, check or stop characters differ");
    value
}
