//! Printable documents, generated here without a PDF library: shipping labels
//! as PDF (A6) or ZPL (4x6 inch thermal), packing slips as PDF (A4), and the
//! combined file of a bulk label run.
//!
//! The PDFs are minimal but valid (PDF 1.4, one content stream per page, the
//! built-in Helvetica font, a correct cross-reference table), so any viewer or
//! printer opens them. Text is kept to printable ASCII: other characters print
//! as `?`, since the built-in fonts carry no Unicode map.

use std::fmt::Write as _;

/// One line of text on a page: position in points from the bottom left, size.
#[derive(Debug, Clone)]
pub struct TextLine {
    pub x: u32,
    pub y: u32,
    pub size: u32,
    pub text: String,
}

/// A page of text.
#[derive(Debug, Clone)]
pub struct Page {
    pub width: u32,
    pub height: u32,
    pub lines: Vec<TextLine>,
}

/// What a label shows. PII: the addresses.
#[derive(Debug, Clone)]
pub struct LabelContent {
    pub carrier: String,
    pub carrier_service: String,
    pub tracking_number: String,
    pub from: Vec<String>,
    pub to: Vec<String>,
    pub parcels: usize,
    pub weight_grams: i64,
    pub reference: String,
}

/// One line of a packing slip.
#[derive(Debug, Clone)]
pub struct SlipLine {
    pub sku: String,
    pub quantity: i32,
    pub description: String,
}

/// A6 in points.
const A6: (u32, u32) = (298, 420);
/// A4 in points.
const A4: (u32, u32) = (595, 842);

/// The label as one A6 page.
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
        24,
    ));
    entries.push((8, "TRACKING NUMBER".to_owned(), 20));
    entries.push((18, label.tracking_number.clone(), 20));
    let mut y = A6.1 - 30;
    let mut lines = Vec::with_capacity(entries.len());
    for (size, text, gap) in entries {
        lines.push(TextLine {
            x: 20,
            y,
            size,
            text,
        });
        y = y.saturating_sub(gap);
    }
    Page {
        width: A6.0,
        height: A6.1,
        lines,
    }
}

/// The label as ZPL for a 4x6 inch label at 203 dpi; the tracking number is
/// printed in text and as a Code 128 barcode.
pub fn label_zpl(label: &LabelContent) -> String {
    let mut zpl = String::from("^XA\n^CI28\n");
    let mut y = 40;
    let mut field = |zpl: &mut String, size: u32, text: &str| {
        let _ = writeln!(zpl, "^FO40,{y}^A0N,{size},{size}^FD{}^FS", zpl_text(text));
        y += size + 10;
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
        y + 10,
        zpl_text(&label.tracking_number)
    );
    let _ = writeln!(
        zpl,
        "^FO40,{}^A0N,40,40^FD{}^FS",
        y + 150,
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
    }
}

/// PDF string literals escape these; anything not printable ASCII prints as `?`.
fn pdf_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out
}

/// A PDF of `pages`.
pub fn pdf(pages: &[Page]) -> Vec<u8> {
    // Objects: 1 catalog, 2 page tree, 3 font, then per page its page and its
    // content stream.
    let mut objects: Vec<Vec<u8>> = Vec::new();
    objects.push(b"<< /Type /Catalog /Pages 2 0 R >>".to_vec());
    let kids: Vec<String> = (0..pages.len())
        .map(|i| format!("{} 0 R", 4 + 2 * i))
        .collect();
    objects.push(
        format!(
            "<< /Type /Pages /Kids [{}] /Count {} >>",
            kids.join(" "),
            pages.len()
        )
        .into_bytes(),
    );
    objects.push(
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"
            .to_vec(),
    );
    for (i, page) in pages.iter().enumerate() {
        let mut content = String::new();
        for line in &page.lines {
            let _ = writeln!(
                content,
                "BT /F1 {} Tf {} {} Td ({}) Tj ET",
                line.size,
                line.x,
                line.y,
                pdf_text(&line.text)
            );
        }
        objects.push(
            format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {} {}] /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
                page.width,
                page.height,
                5 + 2 * i
            )
            .into_bytes(),
        );
        let mut stream = format!("<< /Length {} >>\nstream\n", content.len()).into_bytes();
        stream.extend_from_slice(content.as_bytes());
        stream.extend_from_slice(b"\nendstream");
        objects.push(stream);
    }

    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend_from_slice(object);
        out.extend_from_slice(b"\nendobj\n");
    }
    let xref = out.len();
    let mut table = format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for offset in offsets {
        let _ = writeln!(table, "{offset:010} 00000 n ");
    }
    let _ = write!(
        table,
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    );
    out.extend_from_slice(table.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_pdf_label_holds_the_tracking_number_and_a_correct_cross_reference_table() {
        let bytes = pdf(&[label_page(&label())]);
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.starts_with("%PDF-1.4"));
        assert!(text.contains("(SIM000000000042) Tj"));
        assert!(text.contains(r"(Warehouse \(Berlin\)) Tj"));
        assert!(text.contains("(Stra?e 1) Tj"));
        assert!(text.trim_end().ends_with("%%EOF"));
        // Every offset in the table points at its object.
        let xref_at: usize = text
            .rsplit("startxref\n")
            .next()
            .and_then(|rest| rest.lines().next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        let table = std::str::from_utf8(&bytes[xref_at..]).unwrap();
        assert!(table.starts_with("xref\n0 6\n"));
        for (i, line) in table.lines().skip(3).take(5).enumerate() {
            let offset: usize = line[..10].parse().unwrap();
            assert!(
                bytes[offset..].starts_with(format!("{} 0 obj", i + 1).as_bytes()),
                "object {}",
                i + 1
            );
        }
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
        let bytes = pdf(&[label_page(&label()), label_page(&label())]);
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("/Count 2"));
        assert_eq!(text.matches("/Type /Page ").count(), 2);
    }
}
