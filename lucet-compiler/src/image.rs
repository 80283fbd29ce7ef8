//! The initial linear-memory image: active data segments with constant
//! offsets are applied at compile time and stored as sparse, page-aligned
//! chunks (all-zero pages are not stored), so that the runtime can map the
//! image copy-on-write instead of copying it on every instantiation.
//!
//! Segments are applied in order; from the first one that cannot be baked
//! (an offset read from an imported global, an imported memory, or a
//! segment out of bounds, which must trap at instantiation) onwards, the
//! rest are left to the runtime so that the order of writes is kept.

use std::collections::BTreeMap;

use lucet_module::{DataSegment, ImageChunk, MemoryImage, PAGE_SIZE, WASM_PAGE_SIZE};

use crate::parse::ModuleInfo;

/// The image and the data segments as the runtime sees them.
pub struct BuiltImage {
    pub image: MemoryImage,
    /// Contents of the heap image section.
    pub section: Vec<u8>,
    pub data_segments: Vec<DataSegment>,
}

/// Applies the module's bakeable data segments (of memory 0, when the
/// module defines it: other memories get theirs at instantiation).
pub fn build(info: &ModuleInfo<'_>) -> BuiltImage {
    let (initial_bytes, memory64) = match info.memories.first() {
        Some(m) if m.import.is_none() => {
            (m.initial_pages.saturating_mul(WASM_PAGE_SIZE), m.memory64)
        }
        _ => (0, false),
    };
    // Only pages that segments write are held, so that the work and memory
    // of compilation follow the data's size, not its addresses.
    let mut pages: BTreeMap<u64, Box<[u8]>> = BTreeMap::new();
    let page = PAGE_SIZE as usize;
    let mut baking = initial_bytes > 0 && initial_bytes <= info.heap_reservation;
    let mut data_segments = Vec::with_capacity(info.data.len());
    for seg in &info.data {
        let memory = seg.memory;
        let Some(offset_expr) = &seg.active_offset else {
            data_segments.push(DataSegment {
                memory,
                active_offset: None,
                in_image: false,
                bytes: seg.bytes.to_vec(),
            });
            continue;
        };
        let bakeable = offset_expr
            .as_const_u64()
            .filter(|_| memory == 0)
            .map(|o| if memory64 { o } else { u64::from(o as u32) })
            .filter(|o| {
                o.checked_add(seg.bytes.len() as u64)
                    .is_some_and(|end| end <= initial_bytes)
            });
        match bakeable {
            Some(offset) if baking => {
                let mut at = offset;
                let mut bytes = seg.bytes;
                while !bytes.is_empty() {
                    let in_page = (at % PAGE_SIZE) as usize;
                    let n = bytes.len().min(page - in_page);
                    let p = pages
                        .entry(at / PAGE_SIZE)
                        .or_insert_with(|| vec![0u8; page].into_boxed_slice());
                    p[in_page..in_page + n].copy_from_slice(&bytes[..n]);
                    at += n as u64;
                    bytes = &bytes[n..];
                }
                data_segments.push(DataSegment {
                    memory,
                    active_offset: Some(offset_expr.clone()),
                    in_image: true,
                    bytes: Vec::new(),
                });
            }
            _ => {
                // Later segments of memory 0 must not appear before this
                // one is applied (it may trap).
                if memory == 0 {
                    baking = false;
                }
                data_segments.push(DataSegment {
                    memory,
                    active_offset: Some(offset_expr.clone()),
                    in_image: false,
                    bytes: seg.bytes.to_vec(),
                });
            }
        }
    }
    let (image, section) = chunk(&pages);
    BuiltImage {
        image,
        section,
        data_segments,
    }
}

/// Lays out the pages that are not all zero, in runs of adjacent pages.
fn chunk(pages: &BTreeMap<u64, Box<[u8]>>) -> (MemoryImage, Vec<u8>) {
    let mut chunks: Vec<ImageChunk> = Vec::new();
    let mut section = Vec::new();
    for (&index, bytes) in pages {
        if bytes.iter().all(|b| *b == 0) {
            continue;
        }
        let heap_offset = index * PAGE_SIZE;
        match chunks.last_mut() {
            Some(last) if last.heap_offset + last.len == heap_offset => last.len += PAGE_SIZE,
            _ => chunks.push(ImageChunk {
                heap_offset,
                section_offset: section.len() as u64,
                len: PAGE_SIZE,
            }),
        }
        section.extend_from_slice(bytes);
    }
    (MemoryImage { chunks }, section)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_pages_are_not_stored_and_runs_merge() {
        let mut pages: BTreeMap<u64, Box<[u8]>> = BTreeMap::new();
        let mut set = |page: u64, at: usize, v: u8| {
            pages
                .entry(page)
                .or_insert_with(|| vec![0; 4096].into_boxed_slice())[at] = v;
        };
        set(0, 0, 0); // all zero: not stored
        set(1, 0, 1);
        set(2, 5, 2); // merges with page 1
        set(5, 9, 3);
        let (image, section) = chunk(&pages);
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
