//! Peak sets, cell metadata, peak × cell matrices, splits, and the readers for the formats users bring.

pub mod bed;
pub mod matrix;
pub mod mtx;
pub mod split;
pub mod text;

pub use bed::{read_bed, PeakSet};
pub use matrix::{FilterSpec, PeakMatrix};
pub use split::Split;
