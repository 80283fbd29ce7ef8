//! Collections across a link group.
//!
//! Linked instances may hold each other's objects: a global, a table, an
//! exception payload or an object of one member can refer to an object in
//! another member's GC heap, and code of every member runs on the stack of
//! the run on the CPU. So a member never collects alone: when one needs
//! room, every member's heap is collected together, from every member's
//! roots and the guest frames of the run on the CPU, by the mark-compact
//! steps of `compactor.rs` over all the heaps at once. A member whose
//! region collects by copying gets its live objects in its other half, as
//! its own collector would put them; a mark-compact member slides them
//! down. The members' objects stay in their own heaps.
//!
//! The frames are walked precisely, from the exit record of the member
//! whose code called the builtin or host function, through the code of
//! any member. That walk reaches one stack: a member with a run of its
//! own elsewhere (yielded, or under a nested run of another member) has
//! frames it cannot find, so the group does not collect then, and the
//! allocation that needed room fails as the heap's exhaustion.

use super::collector::{FrameWalk, RootVisitor};
use super::compactor::{compact, Compaction, Roots};
use super::{Instance, LinkGroup, State, CURRENT_INSTANCE};
use crate::limits::GcAlgorithm;
use crate::module::Module;

/// The roots of a link group: every member's own (frames aside), and the
/// frames of the run on the CPU.
struct GroupRoots<'a> {
    members: &'a [*mut Instance],
    frames: Option<FrameWalk>,
}

impl Roots for GroupRoots<'_> {
    unsafe fn visit<V: RootVisitor>(&mut self, v: &mut V) {
        // SAFETY: the trait's promise; the members are live and none runs
        // (their only frames are the walk's).
        unsafe {
            for m in self.members {
                (**m).visit_roots(v, false);
            }
            if let Some(walk) = &self.frames {
                let modules: Vec<&Module> = self.members.iter().map(|m| &*(**m).module).collect();
                walk.visit(v, &modules);
            }
        }
    }
}

/// Collects the GC heaps of every member of `group` together. `exit`: the
/// member whose header's exit record is the innermost guest frame on the
/// stack of the run on the CPU (it called a builtin or a host function);
/// `None` when no guest code of the group is on any stack. Returns the
/// collection's work in words scanned or moved, or `None`, collecting
/// nothing, when some member's frames are out of the walk's reach.
///
/// # Safety
/// Called on the group's thread. With `exit`, its code must be suspended
/// in that call on the stack of this thread's running instance, and the
/// exit record must be the call's; without, no guest code of any member
/// may be on a stack.
pub(super) unsafe fn collect_group(group: &LinkGroup, exit: Option<*mut Instance>) -> Option<u64> {
    // SAFETY: the caller's promise: we are on the group's thread, whose
    // members are live, and guest code is suspended where it says.
    unsafe {
        let members = group.members();
        let run = CURRENT_INSTANCE.with(|c| c.get());
        let frames = match exit {
            Some(exit) => {
                if !members.contains(&run) {
                    return None;
                }
                let header = (*exit).header();
                Some(FrameWalk {
                    exit: ((*header).exit_fp, (*header).exit_pc),
                    stack: (
                        (*run).slot.stack_bottom() as u64,
                        (*run).slot.stack_top() as u64,
                    ),
                })
            }
            None => None,
        };
        let on_cpu = if frames.is_some() {
            run
        } else {
            std::ptr::null_mut()
        };
        if members
            .iter()
            .any(|m| *m != on_cpu && (**m).state != State::Ready)
        {
            return None;
        }

        // The members with objects, by address (so the table of moves is
        // sorted), and their heaps.
        let mut collected: Vec<*mut Instance> = members
            .iter()
            .copied()
            .filter(|m| {
                let (start, next) = (**m).gc_heap_used();
                start != next
            })
            .collect();
        collected.sort_by_key(|m| (**m).gc_heap_used().0);
        let copying = |m: *mut Instance| (*m).region.limits().gc_algorithm == GcAlgorithm::Copying;
        let mut heaps: Vec<Compaction> = collected
            .iter()
            .map(|m| {
                let (start, next) = (**m).gc_heap_used();
                let to = if copying(*m) {
                    (**m).gc_other_half()
                } else {
                    start as u64
                };
                Compaction {
                    used: (start as u64, next as u64),
                    to,
                    end: to,
                }
            })
            .collect();
        let mut roots = GroupRoots { members, frames };
        compact(&mut heaps, &mut roots);

        let mut work = 0;
        for (m, h) in collected.iter().zip(&heaps) {
            let m = *m;
            work += (h.used.1 - h.used.0 + h.end - h.to) / 8;
            let header = (*m).header();
            (*header).gc_next = h.end;
            if copying(m) {
                (*header).gc_limit = h.to + (*m).gc_space_size();
            }
            (*m).gc_collections += 1;
        }
        Some(work)
    }
}
