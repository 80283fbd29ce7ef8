//! Which defined functions can be entered again before they return.
//!
//! A run that never reaches a loop header can still go on for ever, or
//! for as long as its deadline allows: by recursion, direct or through
//! tables, or by tail calls that go round. Such a run must still come to
//! an interrupt check, so functions that can recur check at their entry.
//! A function can recur when it lies on a cycle of direct calls (`call`,
//! `return_call`), or when it can be called other than directly: it is
//! exported or its reference is taken (`escaping`), so that `call_indirect`,
//! `call_ref` or another instance may reach it. Every other function is
//! entered once per call from a function of the first kinds, so checking
//! those is enough, and leaf and helper functions pay nothing.

/// Marks, for each defined function (by index from the first defined
/// one), whether it can recur. `callees[i]` lists the function indices
/// that defined function `i` calls directly (imported ones included, and
/// ignored: an import reaches this module again only through an export).
pub fn recurring_functions(num_imported: u32, callees: &[Vec<u32>], escaping: &[u32]) -> Vec<bool> {
    let n = callees.len();
    let mut recurring = on_call_cycles(num_imported, callees);
    for &f in escaping {
        if let Some(i) = f.checked_sub(num_imported) {
            if let Some(r) = recurring.get_mut(i as usize) {
                *r = true;
            }
        }
    }
    debug_assert_eq!(recurring.len(), n);
    recurring
}

/// Tarjan's strongly connected components, without recursion (a module
/// may chain a million calls): a function is on a cycle when its
/// component has more than one member or it calls itself.
fn on_call_cycles(num_imported: u32, callees: &[Vec<u32>]) -> Vec<bool> {
    const UNVISITED: u32 = u32::MAX;
    let n = callees.len();
    let defined = |f: u32| {
        f.checked_sub(num_imported)
            .map(|i| i as usize)
            .filter(|&i| i < n)
    };
    let mut index = vec![UNVISITED; n];
    let mut low = vec![0u32; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<usize> = Vec::new();
    let mut on_cycle = vec![false; n];
    // The depth-first path: a function and how many of its callees are done.
    let mut path: Vec<(usize, usize)> = Vec::new();
    let mut next_index = 0u32;
    for root in 0..n {
        if index[root] != UNVISITED {
            continue;
        }
        path.push((root, 0));
        index[root] = next_index;
        low[root] = next_index;
        next_index += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut done)) = path.last_mut() {
            if let Some(&callee) = callees[v].get(*done) {
                *done += 1;
                let Some(w) = defined(callee) else { continue };
                if w == v {
                    on_cycle[v] = true;
                } else if index[w] == UNVISITED {
                    index[w] = next_index;
                    low[w] = next_index;
                    next_index += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    path.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            // Every callee of `v` is done.
            path.pop();
            if let Some(&(parent, _)) = path.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut members = 0;
                let start = stack
                    .iter()
                    .rposition(|&w| w == v)
                    .expect("v is on the stack");
                for &w in &stack[start..] {
                    on_stack[w] = false;
                    members += 1;
                }
                if members > 1 {
                    for &w in &stack[start..] {
                        on_cycle[w] = true;
                    }
                }
                stack.truncate(start);
            }
        }
    }
    on_cycle
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(num_imported: u32, callees: &[&[u32]], escaping: &[u32]) -> Vec<bool> {
        let callees: Vec<Vec<u32>> = callees.iter().map(|c| c.to_vec()).collect();
        recurring_functions(num_imported, &callees, escaping)
    }

    #[test]
    fn a_chain_of_calls_does_not_recur() {
        assert_eq!(marked(0, &[&[1], &[2], &[]], &[]), [false, false, false]);
    }

    #[test]
    fn self_calls_and_cycles_recur() {
        // 0 calls itself; 1 -> 2 -> 3 -> 1; 4 calls into the cycle.
        let got = marked(0, &[&[0], &[2], &[3], &[1], &[1]], &[]);
        assert_eq!(got, [true, true, true, true, false]);
    }

    #[test]
    fn escaping_functions_recur_and_imports_are_not_followed() {
        // Two imports (0 and 1); defined 2 calls import 0 and 3; 3 is
        // exported.
        let got = marked(2, &[&[0, 3], &[], &[1]], &[3]);
        assert_eq!(got, [false, true, false]);
    }

    #[test]
    fn two_cycles_joined_by_one_edge_stay_two_components() {
        // 0 <-> 1, 1 -> 2, 2 <-> 3, 4 alone.
        let got = marked(0, &[&[1], &[0, 2], &[3], &[2], &[]], &[]);
        assert_eq!(got, [true, true, true, true, false]);
    }

    #[test]
    fn a_long_chain_does_not_exhaust_the_stack() {
        let n = 1_000_000u32;
        let callees: Vec<Vec<u32>> = (0..n)
            .map(|i| if i + 1 < n { vec![i + 1] } else { vec![0] })
            .collect();
        assert!(recurring_functions(0, &callees, &[]).iter().all(|&r| r));
    }
}
