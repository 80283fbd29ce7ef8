//! The initial linear-memory image: active data segments with constant
//! offsets are applied at compile time and stored as sparse, page-aligned
//! chunks (all-zero pages are not stored), so that the runtime can map the
//! image copy-on-write instead of copying it on every instantiation.
//!
//! Segments are applied in order; from the first one that cannot be baked
//! (an offset read from an imported global, an imported memory, or a
//! segment out of bounds, which must trap at instantiation) onwards, the
//! rest are left to the runtime so that the order of writes is kept.

use lucet_module::{DataSegment, ImageChunk, MemoryImage, PAGE_SIZE, WASM_PAGE_SIZE};

use crate::parse::ModuleInfo;

/// The image and the data segments as the runtime sees them.
pub struct BuiltImage {
    pub image: MemoryImage,
    /// Contents of the heap image section.
    pub section: Vec<u8>,
    pub data_segments: Vec<DataSegment>,
}

/// Applies the module's bakeable data segments.
pub fn build(info: &ModuleInfo<'_>) -> BuiltImage {
    let initial_bytes = match info.memories.first() {
        Some(m) if m.import.is_none() => m.initial_pages.saturating_mul(WASM_PAGE_SIZE),
        _ => 0,
    };
    let mut contents: Vec<u8> = Vec::new();
    let mut baking = initial_bytes > 0;
    let mut data_segments = Vec::with_capacity(info.data.len());
    for seg in &info.data {
        let Some(offset_expr) = &seg.active_offset else {
            data_segments.push(DataSegment {
                active_offset: None,
                in_image: false,
                bytes: seg.bytes.to_vec(),
            });
            continue;
        };
        let bakeable = offset_expr
            .as_const_u64()
            .map(|o| o as u32 as u64)
            .filter(|o| o + seg.bytes.len() as u64 <= initial_bytes);
        match bakeable {
            Some(offset) if baking => {
                let start = offset as usize;
                let end = start + seg.bytes.len();
                if contents.len() < end {
                    contents.resize(end, 0);
                }
                contents[start..end].copy_from_slice(seg.bytes);
                data_segments.push(DataSegment {
                    active_offset: Some(offset_expr.clone()),
                    in_image: true,
                    bytes: Vec::new(),
                });
            }
            _ => {
                baking = false;
                data_segments.push(DataSegment {
                    active_offset: Some(offset_expr.clone()),
                    in_image: false,
                    bytes: seg.bytes.to_vec(),
                });
            }
        }
    }
    let (image, section) = chunk(&contents);
    BuiltImage {
        image,
        section,
        data_segments,
    }
}

/// Splits `contents` into runs of pages that are not all zero.
fn chunk(contents: &[u8]) -> (MemoryImage, Vec<u8>) {
    let page = PAGE_SIZE as usize;
    let mut chunks: Vec<ImageChunk> = Vec::new();
    let mut section = Vec::new();
    for (i, bytes) in contents.chunks(page).enumerate() {
        if bytes.iter().all(|b| *b == 0) {
            continue;
        }
        let heap_offset = (i * page) as u64;
        match chunks.last_mut() {
            Some(last) if last.heap_offset + last.len == heap_offset => last.len += PAGE_SIZE,
            _ => chunks.push(ImageChunk {
                heap_offset,
                section_offset: section.len() as u64,
                len: PAGE_SIZE,
            }),
        }
        section.extend_from_slice(bytes);
        section.resize(section.len().next_multiple_of(page), 0);
    }
    (MemoryImage { chunks }, section)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_pages_are_not_stored_and_runs_merge() {
        let mut contents = vec![0u8; 5 * 4096 + 10];
        contents[4096] = 1; // page 1
        contents[2 * 4096 + 5] = 2; // page 2, merges with 1
        contents[5 * 4096 + 9] = 3; // partial page 5
        let (image, section) = chunk(&contents);
        assert_eq!(
            image.chunks,
            vec![
                ImageChunk {
                    heap_offset: 4096,
                    section_offset: 0,
                    len: 8192
                },
                ImageChunk {
                    heap_offset: 5 * 4096,
                    section_offset: 8192,
                    len: 4096
                },
            ]
        );
        assert_eq!(section.len(), 3 * 4096);
        assert_eq!(section[0], 1);
        assert_eq!(section[4096 + 5], 2);
        assert_eq!(section[8192 + 9], 3);
    }
}
