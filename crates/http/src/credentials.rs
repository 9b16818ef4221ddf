//! The names each provider's users know their credentials by.

/// The names a provider's users know its credentials by, quoted in
/// authentication errors so the message says which setting to fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialVars {
    /// The variable holding the access key id (`AWS_ACCESS_KEY_ID`).
    pub key_id: &'static str,
    /// The variable holding the secret (`AWS_SECRET_ACCESS_KEY`).
    pub secret: &'static str,
    /// The variable holding a temporary session token (`AWS_SESSION_TOKEN`).
    pub token: &'static str,
    /// The variable holding the region (`AWS_REGION`).
    pub region: &'static str,
}

impl CredentialVars {
    /// The AWS CLI's names (S3 and S3-compatible services).
    pub const AWS: Self = Self {
        key_id: "AWS_ACCESS_KEY_ID",
        secret: "AWS_SECRET_ACCESS_KEY",
        token: "AWS_SESSION_TOKEN",
        region: "AWS_REGION",
    };
}

impl Default for CredentialVars {
    fn default() -> Self {
        Self::AWS
    }
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, StatusCode};

    use super::*;
    use crate::error::{ErrorContext, map_error, parse_xml_error};

    #[test]
    fn authentication_errors_name_the_providers_variables() {
        const COS: CredentialVars = CredentialVars {
            key_id: "COS_SECRET_ID",
            secret: "COS_SECRET_KEY",
            token: "COS_SECURITY_TOKEN",
            region: "COS_REGION",
        };
        let body = parse_xml_error(b"<Error><Code>SignatureDoesNotMatch</Code></Error>");
        let ctx = ErrorContext::new("k").access_key_id("AKIDX").vars(COS);
        let e = map_error(
            StatusCode::FORBIDDEN,
            &HeaderMap::new(),
            body.as_ref(),
            &ctx,
        );
        let line = e.to_string();
        assert!(line.contains("refused the signature"), "{line}");
        assert!(
            line.contains("check COS_SECRET_KEY") && line.contains("AKIDX"),
            "{line}"
        );
        assert!(!line.contains("AWS_"), "{line}");
        let default = ErrorContext::new("k");
        assert_eq!(default.vars, CredentialVars::AWS);
    }
}
