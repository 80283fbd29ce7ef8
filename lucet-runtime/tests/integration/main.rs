//! Integration tests of the runtime, written against .wat modules in
//! `tests/wat/`, compiled with `lucet-compiler` and run with `lucet-runtime`.

mod arith;
mod common;
mod data;
mod dense;
mod divconst;
mod exceptions;
mod fuel;
mod gc_collection;
mod gc_objects;
mod gc_types;
mod globals;
mod host_faults;
mod imports;
mod kill;
mod linking;
mod loading;
mod many_results;
mod memories;
mod memory;
mod preemption;
mod regions;
mod signatures;
mod simd;
mod start;
mod tables;
mod tail_calls;
mod threads;
mod traps;
mod yields;
