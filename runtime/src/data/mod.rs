//! Peak sets, cell metadata, peak × cell matrices, splits, simulation, and the readers and writers for the formats
//! users bring (10x `.h5`, AnnData `.h5ad`, Matrix Market, BED / narrowPeak).

pub mod bed;
pub mod cell_rows;
pub mod cell_store;
pub mod cells;
pub mod dataset;
pub mod h5;
pub mod h5ad_read;
pub mod h5ad_write;
pub mod load;
pub mod matrix;
pub mod mtx;
pub mod simulate;
pub mod sparse_h5;
pub mod split;
pub mod tenx_h5;
pub mod tenx_write;
pub mod text;

pub use bed::{parse_bed, read_bed, PeakSet};
pub use cell_rows::CellRows;
pub use cells::{CellMeta, MetaColumn};
pub use dataset::{ChromosomeFilter, FilterReport, PeakDataset};
pub use h5ad_write::{write_h5ad, write_h5ad_streamed, DenseArray, H5adExtras, StreamedLayer};
pub use load::{load_peaks, read_any, Format, LoadOptions};
pub use matrix::{FilterSpec, PeakMatrix};
pub use simulate::{simulate_atac, SimulateOptions, Simulation};
pub use split::Split;
