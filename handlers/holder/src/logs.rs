//! Logs: JSON lines (one object per event, with the request's span and so its
//! `x-fapi-interaction-id`), written through [`Masking`], which blanks what looks like a CPF,
//! a CNPJ or a token wherever it appears. The code never logs personal data on purpose; the
//! mask is the second line, for a value that slips into an error message.

use std::io::{self, Write};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One JSON object per line (the default: what log pipelines read).
    #[default]
    Json,
    /// Human-readable lines, for a terminal.
    Text,
}

impl LogFormat {
    /// `json` or `text`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "json" => Some(Self::Json),
            "text" => Some(Self::Text),
            _ => None,
        }
    }
}

/// Installs the process's subscriber: `filter` (e.g. `info`, or `RUST_LOG`'s value), lines in
/// `format`, masked, to `writer`.
pub fn init<W>(format: LogFormat, filter: EnvFilter, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let masked = Masked(writer);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(masked);
    match format {
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        LogFormat::Text => builder.init(),
    }
}

/// A [`MakeWriter`] whose writers mask.
pub struct Masked<W>(pub W);

impl<'a, W: MakeWriter<'a>> MakeWriter<'a> for Masked<W> {
    type Writer = Masking<W::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        Masking(self.0.make_writer())
    }
}

/// Writes through to `W` with CPFs, CNPJs and tokens masked. The formatter hands it whole
/// lines, so a value is never split between two writes.
pub struct Masking<W>(pub W);

impl<W: Write> Write for Masking<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.write_all(&mask(bytes))?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// A run of digits (with the `.`, `-` and `/` of formatted documents) of 11 or 14 digits is a
/// CPF or CNPJ; a run of 43 or more token characters with letters and digits (32 random bytes
/// in base64url, the shortest secret the platform issues) is a token, a key or a signature.
pub fn mask(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let document = document_run(&text[i..]);
        if document > 0 {
            let digits = text[i..i + document]
                .iter()
                .filter(|b| b.is_ascii_digit())
                .count();
            match digits {
                11 => out.extend_from_slice(b"[cpf]"),
                14 => out.extend_from_slice(b"[cnpj]"),
                _ => out.extend_from_slice(&text[i..i + document]),
            }
            i += document;
            continue;
        }
        let token = token_run(&text[i..]);
        if token > 0 {
            let run = &text[i..i + token];
            let secret = token >= 43
                && run.iter().any(u8::is_ascii_digit)
                && run.iter().any(u8::is_ascii_alphabetic);
            if secret {
                out.extend_from_slice(b"[secret]");
            } else {
                out.extend_from_slice(run);
            }
            i += token;
            continue;
        }
        out.push(text[i]);
        i += 1;
    }
    out
}

/// The length of the digit run (joined by `.`, `-`, `/`) that starts `text`, when `text`
/// starts with a digit that does not follow a token character.
fn document_run(text: &[u8]) -> usize {
    if !text.first().is_some_and(u8::is_ascii_digit) {
        return 0;
    }
    let mut end = 0;
    for (at, b) in text.iter().enumerate() {
        if b.is_ascii_digit() {
            end = at + 1;
        } else if !matches!(b, b'.' | b'-' | b'/') {
            break;
        }
    }
    // Digits glued to letters belong to a token (an id, a hash), not a document.
    if text
        .get(end)
        .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
    {
        return 0;
    }
    end
}

fn token_run(text: &[u8]) -> usize {
    text.iter()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'+'))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(text: &str) -> String {
        String::from_utf8(mask(text.as_bytes())).unwrap()
    }

    #[test]
    fn documents_are_masked_bare_or_formatted() {
        assert_eq!(masked("cpf 76109277673 ok"), "cpf [cpf] ok");
        assert_eq!(masked("cpf=761.092.776-73,"), "cpf=[cpf],");
        assert_eq!(masked("\"45678901000175\""), "\"[cnpj]\"");
        assert_eq!(masked("45.678.901/0001-75"), "[cnpj]");
    }

    #[test]
    fn tokens_are_masked() {
        let jwt = "eyJhbGciOiJQUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJlc2lnbmF0dXJl";
        assert_eq!(masked(&format!("token {jwt} end")), "token [secret] end");
        assert_eq!(
            masked("Bearer x3YQ8kLw0aPq9RvT2mN5bC7dE1fG4hJ6iK8lM0nO2pQ"),
            "Bearer [secret]"
        );
    }

    #[test]
    fn ordinary_values_stay() {
        for kept in [
            "2026-11-26T22:05:49.123Z",
            "status=201 took 12 ms",
            "interaction 3f2b8c1e-9d4a-4b7e-8f6a-1c2d3e4f5a6b",
            "at 1764195949123",
            "aberta_payments::api: payment consent changed",
            "urn:aberta-demo:pix-3f2b8c1e-9d4a-4b7e-8f6a-1c2d3e4f5a6b",
        ] {
            assert_eq!(masked(kept), kept);
        }
    }
}
