//! The one place that knows every provider: it maps a store name from a
//! location (`s3`, or a remote's `type`) to a store.

use std::sync::Arc;

use haul_core::ObjectStore;

use crate::CliError;
use crate::settings::ConfigFile;

/// Opens `bucket` on the store called `store` (`s3` or a remote's name).
pub(crate) fn open(
    store: &str,
    bucket: &str,
    config: &ConfigFile,
) -> Result<Arc<dyn ObjectStore>, CliError> {
    let kind = if store == "s3" {
        "s3"
    } else {
        config
            .remotes
            .get(store)
            .map(|r| r.kind.as_str())
            .ok_or_else(|| CliError::usage(format!("unknown remote {store:?}")))?
    };
    Err(CliError::usage(format!(
        "{store}:{bucket}: provider type {kind:?} is not supported by this build"
    )))
}
