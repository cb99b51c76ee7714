//! Training data, prediction and evaluation of per-cell profile models ([`crate::models::profile::CellProfileModel`],
//! scooby: Lal et al. 2024, gagneurlab/scooby).
//!
//! - [`dataset`]: training items — a window, its sequence context, sampled cells and their transformed targets, with
//!   scooby's shift and reverse-complement augmentation, seeded per (seed, epoch, item).
//! - [`predict`]: per-cell or pseudobulk profiles in counts (trunk embedding reused across cell chunks,
//!   reverse-complement averaging), gene counts over exon bins of the sense strand.
//! - [`gene_sequence`]: a gene's counts from an input sequence of its own (edited), minus-strand genes read on the
//!   reverse complement as scooby's scripts do.
//! - [`variant_effect`]: scooby's variant effects on gene counts (TSS-centred windows, ln fold change).
//! - [`motif_deletion`]: scooby's TF motif deletion — sites overwritten with seeded random bases, per-cell scores with
//!   the reference size factors.
//! - [`figure`]: predicted vs observed pseudobulk tracks per cell type around a gene or region (scooby's Fig. 2).
//! - [`evaluate`]: scooby's evaluation — Pearson of log2(x + 1) gene counts across genes and across cell types.

pub mod dataset;
pub mod evaluate;
pub mod figure;
pub mod gene_sequence;
pub mod motif_deletion;
pub mod predict;
pub mod variant_effect;

pub use dataset::{context_onehot, windows_from_folds, ProfileData, ProfileDataOptions, ProfileItem};
pub use evaluate::{evaluate_profiles, pearson, ProfileEvaluation};
pub use figure::{profile_tracks, Locus, ProfileRows, ProfileTrackOptions, ProfileTracks};
pub use gene_sequence::{counts_of_codes, GeneInput};
pub use motif_deletion::{motif_deletion, DeletionSite, MotifDeletion, MotifDeletionOptions};
pub use predict::{gene_counts, predict_profiles, CellSelection, Inverse, PredictOptions, PredictedProfiles};
pub use variant_effect::{gene_variant_effects, GeneVariantEffect};

#[cfg(test)]
pub(crate) mod test_support;

#[cfg(test)]
mod e2e_tests;
