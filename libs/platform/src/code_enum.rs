//! [`code_enum!`](crate::code_enum!): the domain enums that mirror a contract's
//! enum, with the contract's numbers (as stored in Postgres) and names (as sent
//! in error metadata) written once, next to each variant.
//!
//! ```
//! oms_platform::code_enum! {
//!     /// The state of a widget.
//!     pub enum WidgetState {
//!         /// Just made.
//!         New = 1 => "NEW",
//!         /// Thrown away.
//!         Gone = 2 => "GONE",
//!     }
//! }
//!
//! assert_eq!(WidgetState::from_code(2), Some(WidgetState::Gone));
//! assert_eq!(WidgetState::from_code(0), None);
//! assert_eq!(WidgetState::New.code(), 1);
//! assert_eq!(WidgetState::Gone.name(), "GONE");
//! assert_eq!(WidgetState::ALL.len(), 2);
//! ```
//!
//! The table is written by hand from the `.proto`, so each crate checks it
//! against the generated enum in a test with
//! [`assert_code_enum!`](crate::assert_code_enum!): the same number names the
//! same value, e.g. `ORDER_STATUS_` + `PENDING`.

/// Defines a fieldless enum mirroring a contract enum: `ALL` (every variant,
/// in code order), `from_code` (`None` for UNSPECIFIED and unknown numbers),
/// `code` (the number, as stored) and `name` (the contract's name).
#[macro_export]
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $(
                $(#[$variant_meta:meta])*
                $variant:ident = $code:literal => $text:literal
            ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $(
                $(#[$variant_meta])*
                $variant = $code,
            )+
        }

        impl $name {
            /// Every value, in code order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value of a contract number; `None` for UNSPECIFIED (0) and
            /// numbers the contract does not define.
            pub fn from_code(code: impl Into<i32>) -> Option<$name> {
                match code.into() {
                    $($code => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The contract number, as stored.
            pub fn code(self) -> i16 {
                self as i16
            }

            /// The contract's name, e.g. for error metadata.
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }
    };
}

/// Asserts, in a test, that every value of a [`code_enum!`](crate::code_enum!)
/// has the number and name of the contract's: the generated proto enum names
/// the value's code as the contract's prefix followed by the value's name.
///
/// ```
/// use oms_platform::ids::ActorKind;
/// use oms_proto::common::v1 as common;
///
/// oms_platform::assert_code_enum!(ActorKind => common::ActorKind, "ACTOR_KIND_");
/// ```
#[macro_export]
macro_rules! assert_code_enum {
    ($ours:ty => $contract:ty, $prefix:literal) => {
        for &value in <$ours>::ALL {
            let contract = <$contract>::try_from(i32::from(value.code()))
                .ok()
                .map(|contract| contract.as_str_name());
            let expected = format!("{}{}", $prefix, value.name());
            assert_eq!(contract, Some(expected.as_str()), "{value:?}");
        }
    };
}
