//! Making customer-written content safe: attachment file names and HTML bodies.
//!
//! File names lose path components, control, bidi-override and zero-width characters, and are
//! never empty; types a browser or web server would execute (`.html`, `.svg`, `.js`,
//! `.htaccess`, executables ...) are flagged. HTML goes through ammonia: no scripts, frames,
//! SVG, event handlers, `javascript:` URLs or style attributes; links get
//! `rel="noopener noreferrer"`.

use std::collections::HashSet;
use std::sync::OnceLock;

/// Longest file name we keep, in bytes (common file system limit).
const MAX_FILENAME_BYTES: usize = 200;

/// Characters that render invisibly or reorder text and so can disguise a name
/// (`invoice\u{202E}fdp.exe` shows as `invoiceexe.pdf`).
fn is_invisible_or_bidi(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}' // zero-width space/joiners, LRM, RLM
        | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
        | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
        | '\u{2066}'..='\u{2069}' // bidi isolates
        | '\u{061C}' // Arabic letter mark
        | '\u{00AD}' // soft hyphen
        | '\u{034F}' // combining grapheme joiner
        | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' // Hangul fillers
        | '\u{180E}' // Mongolian vowel separator
        | '\u{FEFF}' // BOM / zero-width no-break space
        | '\u{FFF9}'..='\u{FFFB}' // interlinear annotation
    )
}

/// Sanitises an attachment file name so it is safe to show and to use as a download name.
///
/// Only the last path component survives (`../../x` and `..\\..\\x` become `x`); NUL, control,
/// bidi-override and zero-width characters are removed; characters reserved on common file
/// systems become `_`; leading/trailing spaces and trailing dots are trimmed; Windows device
/// names get a `_` prefix; the result is at most 200 bytes (keeping the extension) and never
/// empty (`fallback` is used, or `attachment`).
pub fn sanitize_filename(name: &str, fallback: &str) -> String {
    let cleaned: String = name
        .chars()
        .filter(|&c| !c.is_control() && !is_invisible_or_bidi(c))
        .collect();
    let last = cleaned
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .to_string();
    let mut out: String = last
        .chars()
        .map(|c| match c {
            '<' | '>' | ':' | '"' | '|' | '?' | '*' => '_',
            c => c,
        })
        .collect();
    out = out
        .trim_matches(|c: char| c.is_whitespace())
        .trim_end_matches(['.', ' '])
        .to_string();
    if out.is_empty() || out.chars().all(|c| c == '.') {
        let fb = if fallback.is_empty() || fallback.contains(['/', '\\']) {
            "attachment"
        } else {
            fallback
        };
        return fb.to_string();
    }
    let stem = out
        .split('.')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    let reserved = matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || (stem.len() == 4
            && (stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.as_bytes()[3].is_ascii_digit());
    if reserved {
        out.insert(0, '_');
    }
    truncate_keep_extension(&out, MAX_FILENAME_BYTES)
}

fn truncate_keep_extension(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 && name.len() - i <= 16 => (&name[..i], &name[i..]),
        _ => (name, ""),
    };
    let budget = max.saturating_sub(ext.len());
    let mut cut = budget.min(stem.len());
    while cut > 0 && !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{}", &stem[..cut], ext)
}

/// Extensions whose files a browser, web server or operating system may execute or render
/// as active content.
const DANGEROUS_EXTENSIONS: &[&str] = &[
    // active web content
    "htm",
    "html",
    "xhtml",
    "shtml",
    "mht",
    "mhtml",
    "svg",
    "svgz",
    "xml",
    "xsl",
    "xslt",
    "js",
    "mjs",
    "jse",
    "swf",
    "php",
    "php3",
    "php4",
    "php5",
    "phtml",
    "phar",
    "asp",
    "aspx",
    "jsp",
    "cgi",
    "pl",
    "py",
    "rb",
    "htaccess",
    "htpasswd",
    "hta", // executables and scripts
    "exe",
    "com",
    "scr",
    "pif",
    "bat",
    "cmd",
    "ps1",
    "psm1",
    "vbs",
    "vbe",
    "wsf",
    "wsh",
    "msi",
    "msp",
    "msc",
    "jar",
    "lnk",
    "reg",
    "cpl",
    "dll",
    "sys",
    "sh",
    "bash",
    "app",
    "apk",
    "appref-ms",
    "url",
    "scf",
    "inf",
    "iso",
    "img",
    "vhd",
    "vhdx", // macro-enabled documents
    "docm",
    "dotm",
    "xlsm",
    "xltm",
    "xlam",
    "pptm",
    "potm",
    "ppam",
    "sldm",
];

/// MIME types that are active content whatever the name says.
const DANGEROUS_TYPES: &[&str] = &[
    "text/html",
    "application/xhtml+xml",
    "image/svg+xml",
    "text/javascript",
    "application/javascript",
    "application/x-javascript",
    "application/ecmascript",
    "text/xml",
    "application/xml",
    "application/x-msdownload",
    "application/x-msdos-program",
    "application/x-sh",
    "application/x-httpd-php",
    "application/hta",
    "application/java-archive",
    "application/vnd.microsoft.portable-executable",
];

/// True when a (sanitised) file name or its content type denotes active or executable
/// content: `.html`, `.svg`, `.js`, `.htaccess`, `.exe`, macro documents, any dot-file
/// (`.htaccess`, `.user.ini`) and so on. Such attachments must be served as downloads
/// (`Content-Disposition: attachment`, `application/octet-stream`), never inline.
pub fn is_dangerous_filename(name: &str, content_type: &str) -> bool {
    let lower = name.to_lowercase();
    if lower.starts_with('.') {
        return true;
    }
    let ct = content_type.trim().to_ascii_lowercase();
    if DANGEROUS_TYPES.contains(&ct.as_str()) {
        return true;
    }
    // Every extension counts: "report.html.pdf" is harmless but "report.pdf.html" is not, and
    // servers such as Apache may act on inner extensions ("shell.php.jpg").
    lower
        .split('.')
        .skip(1)
        .any(|ext| DANGEROUS_EXTENSIONS.contains(&ext))
}

fn html_cleaner() -> &'static ammonia::Builder<'static> {
    static CLEANER: OnceLock<ammonia::Builder<'static>> = OnceLock::new();
    CLEANER.get_or_init(|| {
        let mut b = ammonia::Builder::default();
        let schemes: HashSet<&str> = ["http", "https", "mailto", "tel", "cid"]
            .into_iter()
            .collect();
        b.url_schemes(schemes)
            .link_rel(Some("noopener noreferrer"))
            .add_tags(["font", "center"])
            .add_tag_attributes("table", ["width", "border", "cellpadding", "cellspacing"])
            .add_tag_attributes("td", ["width", "colspan", "rowspan", "valign"])
            .add_tag_attributes("th", ["width", "colspan", "rowspan", "valign"])
            .add_tag_attributes("font", ["color", "size"])
            .add_tag_attributes("img", ["width", "height"])
            .set_tag_attribute_value("a", "target", "_blank")
            .strip_comments(true);
        b
    })
}

/// Sanitises an HTML mail body for display: the result has no `<script>`, `<style>`,
/// `<iframe>`, `<object>`, `<svg>`, `<form>`, event-handler attributes, `style` attributes or
/// non-whitelisted URL schemes (only http, https, mailto, tel and cid remain); links open with
/// `rel="noopener noreferrer"`.
pub fn sanitize_html(html: &str) -> String {
    html_cleaner().clean(html).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_components_are_stripped() {
        assert_eq!(sanitize_filename("..\\..\\x", "a"), "x");
        assert_eq!(sanitize_filename("../../etc/passwd", "a"), "passwd");
        assert_eq!(sanitize_filename("C:\\Users\\me\\doc.pdf", "a"), "doc.pdf");
        assert_eq!(sanitize_filename("..", "fallback.bin"), "fallback.bin");
        assert_eq!(sanitize_filename("../", "fallback.bin"), "fallback.bin");
        assert_eq!(sanitize_filename("", ""), "attachment");
    }

    #[test]
    fn invisible_and_control_chars_are_removed() {
        assert_eq!(sanitize_filename(".htaccess\u{200b}", "a"), ".htaccess");
        assert_eq!(
            sanitize_filename("invoice\u{202E}fdp.exe", "a"),
            "invoicefdp.exe"
        );
        assert_eq!(sanitize_filename("a\0b\r\n\tc.txt", "a"), "abc.txt");
        assert_eq!(sanitize_filename("\u{200b}\u{feff}", "x.bin"), "x.bin");
        assert_eq!(sanitize_filename("what?.txt", "a"), "what_.txt");
        assert_eq!(sanitize_filename("con.txt", "a"), "_con.txt");
        assert_eq!(sanitize_filename("report. . .", "a"), "report");
    }

    #[test]
    fn long_names_keep_extension() {
        let long = format!("{}.pdf", "ä".repeat(300));
        let s = sanitize_filename(&long, "a");
        assert!(s.len() <= MAX_FILENAME_BYTES);
        assert!(s.ends_with(".pdf"));
    }

    #[test]
    fn dangerous_types() {
        for n in [
            ".htaccess",
            "x.svg",
            "page.HTML",
            "app.js",
            "setup.exe",
            "shell.php.jpg",
            "m.docm",
        ] {
            assert!(is_dangerous_filename(n, "application/octet-stream"), "{n}");
        }
        assert!(is_dangerous_filename("photo.png", "image/svg+xml"));
        assert!(!is_dangerous_filename("photo.png", "image/png"));
        assert!(!is_dangerous_filename("report.pdf", "application/pdf"));
    }

    #[test]
    fn html_is_defanged() {
        let dirty = r#"<p onclick="x()">Hi<script>alert(1)</script>
            <iframe src="https://evil"></iframe><svg onload="alert(1)"><circle/></svg>
            <img src="x" onerror="alert(1)"><a href="javascript:alert(1)">j</a>
            <a href="https://example.com/">ok</a><div style="background:url(javascript:alert(1))">s</div>
            <style>body{display:none}</style><form action="https://evil"><input></form></p>"#;
        let clean = sanitize_html(dirty);
        let lower = clean.to_lowercase();
        for bad in [
            "<script",
            "alert(1)",
            "<iframe",
            "<svg",
            "onerror",
            "onload",
            "onclick",
            "javascript:",
            "style=",
            "<style",
            "<form",
            "<input",
        ] {
            assert!(!lower.contains(bad), "{bad} survived: {clean}");
        }
        assert!(clean.contains(r#"href="https://example.com/""#));
        assert!(clean.contains(r#"rel="noopener noreferrer""#));
        assert!(clean.contains("Hi"));
    }
}
