//! Heddle's trust layers (issue 7), built up in pieces. Pure: no I/O, no clock, no tokio.
//!
//! - [`validate`]: the checks that make a detection more than a shape — Luhn and real IIN
//!   ranges for payment cards, the SSA's area/group/serial rules for US SSNs and ITINs, and
//!   ISO 13616 country lengths with the mod-97 check for IBANs. A number that fails its
//!   checksum is not PII of that type, which is what keeps order numbers, record ids and
//!   amounts untouched.

pub mod validate;
