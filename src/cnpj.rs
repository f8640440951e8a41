//! Fresh CNPJs with valid check digits, for TPPs minted on demand.

/// A random 14-digit CNPJ (8-digit root, branch `0001`, two check digits).
pub fn random() -> String {
    let seed = uuid::Uuid::new_v4().as_u128();
    let mut digits: Vec<u32> = (0..8).map(|i| ((seed >> (i * 8)) % 10) as u32).collect();
    digits.extend([0, 0, 0, 1]);
    digits.extend(check_digits(&digits));
    digits.iter().map(|d| char::from(b'0' + *d as u8)).collect()
}

/// The two check digits of the first twelve digits (modulo 11, weights 2..9 from the right).
fn check_digits(first_twelve: &[u32]) -> [u32; 2] {
    let mut digits = first_twelve.to_vec();
    for weights in [
        &[5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2][..],
        &[6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2][..],
    ] {
        let sum: u32 = digits.iter().zip(weights).map(|(d, w)| d * w).sum();
        let rest = sum % 11;
        digits.push(if rest < 2 { 0 } else { 11 - rest });
    }
    [digits[12], digits[13]]
}

#[cfg(test)]
mod tests {
    #[test]
    fn check_digits_match_a_known_cnpj() {
        // 11.222.333/0001-81 is the usual worked example.
        let digits: Vec<u32> = "112223330001"
            .chars()
            .filter_map(|c| c.to_digit(10))
            .collect();
        assert_eq!(super::check_digits(&digits), [8, 1]);
        let fresh = super::random();
        let all: Vec<u32> = fresh.chars().filter_map(|c| c.to_digit(10)).collect();
        assert_eq!(all.len(), 14);
        assert_eq!(super::check_digits(&all[..12]), [all[12], all[13]]);
    }
}
