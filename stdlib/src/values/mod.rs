//! Value types users hold in scripts, shared by several areas.

pub mod matrix;
pub mod model;
pub mod peak_data;
pub mod table;

pub use matrix::Matrix;
pub use table::{Column, Table};
