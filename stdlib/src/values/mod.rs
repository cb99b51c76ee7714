//! Value types users hold in scripts, shared by several areas.

pub mod matrix;

pub use matrix::Matrix;
