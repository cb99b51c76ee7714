//! DNA sequences: byte codes (A=0, C=1, G=2, T=3), one-hot tensors built on the device, reverse complements,
//! genomic regions.
//!
//! Training sequences are stored as one byte per base ([`codes`]); float one-hot only ever exists per minibatch.

pub mod codes;
pub mod genome;
pub mod onehot;
pub mod peak_codes;
pub mod region;
pub mod shuffle;

pub use codes::{encode, gc_content, reverse_complement, NResolver};
pub use genome::Genome;
pub use peak_codes::{peak_codes, SeqCodes};
pub use region::Region;
