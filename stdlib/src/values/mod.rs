//! Value types users hold in scripts, shared by several areas.

pub mod matrix;
pub mod peak_data;

pub use matrix::Matrix;
