//! The speed layer: maintains the views incrementally over records newer than the batch
//! watermark. Not built yet; see the project's issues.
