//! [`store!`](crate::store): the type of a store over one bucket, the
//! same for every dialect but for its name and configuration.

/// `store!(Store, "Service", Dialect, Config, field, new)` defines
/// `Store`, an [`ObjectStore`](haul_core::ObjectStore) over one bucket of
/// `Service`: a cheap-to-clone handle on an `Arc<Core<Dialect>>` (made by
/// `new` from a `Config`, which the dialect holds as its `field`), with
/// `new`, `config`, a `Debug` that shows the configuration (whose own
/// `Debug` hides the secrets), a `Display` of `scheme://bucket`, and its
/// `ObjectStore` impl ([`haul_http::delegate_object_store!`] with
/// [`list`](crate::list)). The crate using it depends on haul-core and
/// haul-http, whose paths the expansion names.
#[macro_export]
macro_rules! store {
    ($store:ident, $service:literal, $dialect:ty, $config:ty, $field:ident, $new:path $(,)?) => {
        #[doc = concat!("An [`ObjectStore`](::haul_core::ObjectStore) over one ", $service, " bucket. Cheap to")]
        /// share behind an `Arc`; one pooled HTTP client serves every call.
        #[derive(Clone)]
        pub struct $store {
            pub(crate) core: ::std::sync::Arc<$crate::Core<$dialect>>,
        }

        impl $store {
            /// A store for `cfg`'s bucket. Performs no I/O; a wrong endpoint or
            /// bucket shows up on the first call.
            pub fn new(cfg: $config) -> ::haul_core::Result<Self> {
                Ok(Self {
                    core: ::std::sync::Arc::new($new(cfg)?),
                })
            }

            /// The configuration (its `Debug` hides the secrets).
            #[must_use]
            pub fn config(&self) -> &$config {
                &self.core.dialect.$field
            }
        }

        impl ::std::fmt::Debug for $store {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                self.core
                    .fmt_store(stringify!($store), &self.core.dialect.$field, f)
            }
        }

        impl ::std::fmt::Display for $store {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                self.core.fmt_name(f)
            }
        }

        ::haul_http::delegate_object_store!($store, $crate::list);
    };
}
