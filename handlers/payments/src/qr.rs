//! Pix QR codes ("BR Code": EMV merchant-presented TLV, the Pix Copia e Cola text) as far as
//! the holder checks them at authorisation without a DICT lookup: well formed, the CRC right,
//! a Pix merchant account in it, and for a static code (QRES) the key and the amount the
//! consent states. The reasons are the consent's rejection codes.

/// The code is not a well-formed Pix BR Code, or names another key.
pub const QRCODE_INVALIDO: &str = "QRCODE_INVALIDO";
/// The code's amount is not the consent's.
pub const VALOR_INVALIDO: &str = "VALOR_INVALIDO";

const PIX_GUI: &str = "br.gov.bcb.pix";

/// CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF), the BR Code's field 63.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for byte in data {
        crc ^= u16::from(*byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The top-level `(id, value)` fields, in order; `None` when the text is not TLV.
fn fields(text: &str) -> Option<Vec<(&str, &str)>> {
    let mut out = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let id = rest.get(..2)?;
        let len: usize = rest.get(2..4)?.parse().ok()?;
        let value = rest.get(4..4 + len)?;
        out.push((id, value));
        rest = &rest[4 + len..];
    }
    Some(out)
}

/// Amounts compared in cents (`"123.4"` and `"123.40"` are the same).
fn cents(amount: &str) -> Option<i64> {
    let (units, fraction) = amount.split_once('.').unwrap_or((amount, "0"));
    if fraction.len() > 2 || units.is_empty() {
        return None;
    }
    let units: i64 = units.parse().ok()?;
    let fraction: i64 = format!("{fraction:0<2}").parse().ok()?;
    Some(units * 100 + fraction)
}

/// Checks `code` for a consent of `amount`; for a static code (`QRES`) also its `proxy`.
/// Line breaks (a code pasted across lines) are ignored.
pub fn check(
    code: &str,
    proxy: Option<&str>,
    amount: &str,
    static_code: bool,
) -> Result<(), &'static str> {
    let code: String = code.chars().filter(|c| *c != '\n' && *c != '\r').collect();
    let fields = fields(&code).ok_or(QRCODE_INVALIDO)?;
    if fields.first() != Some(&("00", "01")) {
        return Err(QRCODE_INVALIDO);
    }
    // The CRC closes the code and covers everything before its own value.
    match fields.last() {
        Some(("63", crc)) if crc.len() == 4 => {
            let covered = &code.as_bytes()[..code.len() - 4];
            if !crc.eq_ignore_ascii_case(&format!("{:04X}", crc16(covered))) {
                return Err(QRCODE_INVALIDO);
            }
        }
        _ => return Err(QRCODE_INVALIDO),
    }
    let account = fields
        .iter()
        .filter(|(id, _)| matches!(id.parse::<u8>(), Ok(26..=51)))
        .filter_map(|(_, value)| self::fields(value))
        .find(|sub| {
            sub.iter()
                .any(|(id, v)| *id == "00" && v.eq_ignore_ascii_case(PIX_GUI))
        })
        .ok_or(QRCODE_INVALIDO)?;
    if let Some((_, currency)) = fields.iter().find(|(id, _)| *id == "53")
        && *currency != "986"
    {
        return Err(QRCODE_INVALIDO);
    }
    if let Some((_, in_code)) = fields.iter().find(|(id, _)| *id == "54")
        && cents(in_code) != cents(amount)
    {
        return Err(VALOR_INVALIDO);
    }
    if static_code {
        let key = account
            .iter()
            .find(|(id, _)| *id == "01")
            .map(|(_, v)| *v)
            .ok_or(QRCODE_INVALIDO)?;
        if proxy.is_some_and(|p| p != key) {
            return Err(QRCODE_INVALIDO);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The payments 4.0.0 example (`Details.qrCode`), a dynamic-and-static code for 123.45.
    const SPEC_EXAMPLE: &str = "00020104141234567890123426660014BR.GOV.BCB.PIX014466756C616E6F32303139406578616D706C652E636F6D27300012\
BR.COM.OUTRO011001234567895204000053039865406123.455802BR5915NOMEDORECEBEDOR6008BRASILIA61087007490062\
530515RP12345678-201950300017BR.GOV.BCB.BRCODE01051.0.080450014BR.GOV.BCB.PIX0123PADRAO.URL.PIX/0123AB\
CD81390012BR.COM.OUTRO01190123.ABCD.3456.WXYZ6304EB76";
    const SPEC_KEY: &str = "66756C616E6F32303139406578616D706C652E636F6D";

    /// A static code for `key` and `amount`, with its CRC.
    fn static_code(key: &str, amount: &str) -> String {
        let gui = format!("0014BR.GOV.BCB.PIX01{:02}{key}", key.len());
        // Payload format 01, point of initiation 11 (static).
        let body = String::from("000201010211")
            + &format!("26{:02}{gui}", gui.len())
            + "52040000530398654"
            + &format!("{:02}{amount}", amount.len())
            + "5802BR5913FULANO DE TAL6008BRASILIA6304";
        format!("{body}{:04X}", crc16(body.as_bytes()))
    }

    #[test]
    fn the_spec_example_passes_with_its_key_and_amount() {
        assert_eq!(check(SPEC_EXAMPLE, Some(SPEC_KEY), "123.45", true), Ok(()));
        assert_eq!(check(SPEC_EXAMPLE, None, "123.45", false), Ok(()));
    }

    #[test]
    fn a_code_names_its_amount_and_key() {
        let code = static_code("cliente@example.com", "10.00");
        assert_eq!(
            check(&code, Some("cliente@example.com"), "10.0", true),
            Ok(())
        );
        assert_eq!(
            check(&code, Some("cliente@example.com"), "10.01", true),
            Err(VALOR_INVALIDO)
        );
        assert_eq!(
            check(&code, Some("outro@example.com"), "10.00", true),
            Err(QRCODE_INVALIDO)
        );
    }

    #[test]
    fn a_damaged_code_is_invalid() {
        let code = static_code("cliente@example.com", "10.00");
        let damaged = code.replacen("FULANO", "FULANA", 1);
        assert_eq!(check(&damaged, None, "10.00", true), Err(QRCODE_INVALIDO));
        assert_eq!(
            check("not a code", None, "1.00", true),
            Err(QRCODE_INVALIDO)
        );
        assert_eq!(check("", None, "1.00", true), Err(QRCODE_INVALIDO));
        let truncated = &code[..code.len() - 6];
        assert_eq!(check(truncated, None, "10.00", true), Err(QRCODE_INVALIDO));
    }
}
