//! TLS 1.3 with raw Ed25519 public keys for QUIC (ARCHITECTURE.md, "Identity and trust"): the
//! handshake proves that each side holds the host key it presents, and nothing more. A server
//! takes any such key (seeds and invite holders must connect too); a dialer may insist on the key
//! it expects. Membership of a pact is proven afterwards ([`crate::proof`]).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, SubjectPublicKeyInfoDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use crate::Error;
use crate::identity::{HostKey, key_of_spki};

/// What every TLS config of an endpoint is built from, made once when it binds: the crypto
/// provider (ring, as quinn's default: a second provider in the tree would leave rustls unable
/// to pick one) and the host key as rustls presents it.
#[derive(Clone, Debug)]
pub(crate) struct Identity {
    provider: Arc<CryptoProvider>,
    certified: Arc<rustls::sign::CertifiedKey>,
}

impl Identity {
    pub(crate) fn new(key: &HostKey) -> Result<Identity, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certified = key.certified(&provider)?;
        Ok(Identity {
            provider,
            certified,
        })
    }

    fn verifier(&self, expected: Option<[u8; 32]>) -> Arc<PeerKeys> {
        Arc::new(PeerKeys {
            expected,
            algorithms: self.provider.signature_verification_algorithms,
        })
    }
}

/// Checks the peer's raw public key and its handshake signature.
#[derive(Debug)]
struct PeerKeys {
    /// When dialing: the key the peer must present.
    expected: Option<[u8; 32]>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PeerKeys {
    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Result<(), rustls::Error> {
        if !intermediates.is_empty() {
            return Err(rustls::Error::General(
                "a raw public key comes without intermediates".into(),
            ));
        }
        let key = key_of_spki(end_entity.as_ref()).ok_or_else(|| {
            rustls::Error::General("the peer's key is not an Ed25519 raw public key".into())
        })?;
        match self.expected {
            Some(want) if want != key => Err(rustls::Error::General(format!(
                "the peer presented key {}, not the expected {}",
                hex::encode(key),
                hex::encode(want)
            ))),
            _ => Ok(()),
        }
    }

    fn signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature_with_raw_key(
            message,
            &SubjectPublicKeyInfoDer::from(cert.as_ref()),
            dss,
            &self.algorithms,
        )
    }
}

fn no_tls12() -> rustls::Error {
    rustls::Error::General("only TLS 1.3 is spoken".into())
}

impl ServerCertVerifier for PeerKeys {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.check(end_entity, intermediates)
            .map(|()| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(no_tls12())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }

    fn requires_raw_public_keys(&self) -> bool {
        true
    }
}

impl ClientCertVerifier for PeerKeys {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.check(end_entity, intermediates)
            .map(|()| ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(no_tls12())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }

    fn requires_raw_public_keys(&self) -> bool {
        true
    }
}

/// The server side: our key, any peer key (mutual authentication is required), `alpns`.
pub(crate) fn server_config(id: &Identity, alpns: &[&[u8]]) -> Result<rustls::ServerConfig, Error> {
    let mut config = rustls::ServerConfig::builder_with_provider(id.provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_client_cert_verifier(id.verifier(None))
        .with_cert_resolver(Arc::new(
            rustls::server::AlwaysResolvesServerRawPublicKeys::new(id.certified.clone()),
        ));
    config.alpn_protocols = alpns.iter().map(|a| a.to_vec()).collect();
    Ok(config)
}

/// The dialing side: our key, the peer's key when known, one ALPN.
pub(crate) fn client_config(
    id: &Identity,
    expected: Option<[u8; 32]>,
    alpn: &[u8],
) -> Result<rustls::ClientConfig, Error> {
    let mut config = rustls::ClientConfig::builder_with_provider(id.provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| Error::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(id.verifier(expected))
        .with_client_cert_resolver(Arc::new(
            rustls::client::AlwaysResolvesClientRawPublicKeys::new(id.certified.clone()),
        ));
    config.alpn_protocols = vec![alpn.to_vec()];
    Ok(config)
}
