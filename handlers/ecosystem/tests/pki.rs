//! The test PKI: certificates parse with x509-parser and carry every OFB subject attribute;
//! keys are reused by the next start.

mod common;

use x509_parser::prelude::*;

fn attribute(cert: &X509Certificate<'_>, oid: &str) -> Option<String> {
    cert.subject()
        .iter_attributes()
        .find(|a| a.attr_type().to_id_string() == oid)
        .and_then(|a| a.as_str().ok().map(str::to_string))
}

#[tokio::test]
async fn transport_certificate_carries_the_ofb_subject_attributes() {
    let eco = common::start().await;
    let pem = std::fs::read(&eco.contract.tpp.transport_cert).unwrap();
    let blocks: Vec<_> = Pem::iter_from_buffer(&pem).map(|p| p.unwrap()).collect();
    assert_eq!(blocks.len(), 2, "leaf then issuing CA");
    let leaf = blocks[0].parse_x509().unwrap();
    let issuing = blocks[1].parse_x509().unwrap();

    let tpp = &eco.contract.tpp;
    assert_eq!(
        attribute(&leaf, "0.9.2342.19200300.100.1.1").as_deref(),
        Some(tpp.software_id.as_str())
    );
    assert_eq!(
        attribute(&leaf, "2.5.4.97"),
        Some(format!("OFBBR-{}", tpp.org_id))
    );
    assert_eq!(
        attribute(&leaf, "2.5.4.5").as_deref(),
        Some("22333444000105")
    );
    assert_eq!(
        attribute(&leaf, "2.5.4.15").as_deref(),
        Some("Private Organization")
    );
    assert_eq!(
        attribute(&leaf, "1.3.6.1.4.1.311.60.2.1.3").as_deref(),
        Some("BR")
    );
    assert!(attribute(&leaf, "2.5.4.3").is_some(), "CN");

    let eku = leaf.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.client_auth && eku.server_auth);
    assert_eq!(leaf.issuer(), issuing.subject());
    assert!(issuing.is_ca());
    assert_eq!(
        leaf.public_key().algorithm.algorithm.to_id_string(),
        "1.2.840.113549.1.1.1",
        "RSA"
    );
    assert!(leaf.validity().is_valid());
}

#[tokio::test]
async fn server_certificate_names_loopback() {
    let eco = common::start().await;
    let pem = std::fs::read(&eco.contract.holder.server_cert).unwrap();
    let (_, block) = parse_x509_pem(&pem).unwrap();
    let cert = block.parse_x509().unwrap();
    let san = cert.subject_alternative_name().unwrap().unwrap().value;
    assert!(
        san.general_names
            .iter()
            .any(|n| matches!(n, GeneralName::DNSName("localhost")))
    );
    assert!(
        san.general_names
            .iter()
            .any(|n| matches!(n, GeneralName::IPAddress(ip) if *ip == [127u8, 0, 0, 1]))
    );
    assert!(
        cert.extended_key_usage()
            .unwrap()
            .unwrap()
            .value
            .server_auth
    );
}

#[tokio::test]
async fn a_second_prepare_reuses_every_key() {
    let eco = common::start().await;
    let files = [
        eco.contract.ca_bundle.clone(),
        eco.contract.tpp.transport_cert.clone(),
        eco.contract.tpp.signing_jwk.clone(),
        eco.contract.tpp.encryption_jwk.clone(),
        eco.contract.holder.server_cert.clone(),
    ];
    let before: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let ports = aberta_ecosystem::sandbox::Ports {
        host: "127.0.0.1".parse().unwrap(),
        holder: 1,
        directory: 2,
        pcm: 3,
    };
    let again = aberta_ecosystem::sandbox::prepare(eco.data(), &ports).unwrap();
    assert_eq!(again.tpp.org_id, eco.contract.tpp.org_id);
    assert_eq!(again.tpp.software_id, eco.contract.tpp.software_id);
    let after: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert_eq!(before, after);
}
