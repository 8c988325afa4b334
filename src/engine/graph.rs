//! The dependency graph: resolved `requires`/`wants`/`conflicts`/`on_failure` edges,
//! ordering edges (`after`, `before`, and `requires`, which implies ordering), and cycles.

use std::collections::HashMap;

use crate::unit::{UnitName, UnitSpec};

/// Edges between units, by index. Built once per load.
#[derive(Debug, Default, Clone)]
pub struct Graph {
    /// Units that must be ready before this one starts (when they are being started too).
    pub preds: Vec<Vec<usize>>,
    /// Inverse of `preds`: units ordered after this one.
    pub succs: Vec<Vec<usize>>,
    pub requires: Vec<Vec<usize>>,
    /// Inverse of `requires`.
    pub required_by: Vec<Vec<usize>>,
    pub wants: Vec<Vec<usize>>,
    /// Symmetric.
    pub conflicts: Vec<Vec<usize>>,
    pub on_failure: Vec<Vec<usize>>,
    /// Why a unit can never start: an unknown required unit, or membership in a cycle.
    pub problems: Vec<Option<String>>,
}

fn push_unique(v: &mut Vec<usize>, x: usize) {
    if !v.contains(&x) {
        v.push(x);
    }
}

impl Graph {
    /// `specs[i]` is `None` for units whose file was rejected (they have no edges).
    pub fn build(names: &[UnitName], specs: &[Option<&UnitSpec>]) -> Graph {
        let n = names.len();
        let index: HashMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(i, u)| (u.as_str(), i))
            .collect();
        let mut g = Graph {
            preds: vec![Vec::new(); n],
            succs: vec![Vec::new(); n],
            requires: vec![Vec::new(); n],
            required_by: vec![Vec::new(); n],
            wants: vec![Vec::new(); n],
            conflicts: vec![Vec::new(); n],
            on_failure: vec![Vec::new(); n],
            problems: vec![None; n],
        };
        let resolve = |list: &[UnitName]| -> Vec<usize> {
            let mut out = Vec::new();
            for name in list {
                if let Some(&j) = index.get(name.as_str()) {
                    push_unique(&mut out, j);
                }
            }
            out
        };
        for (i, spec) in specs.iter().enumerate() {
            let Some(spec) = spec else { continue };
            let missing: Vec<&str> = spec
                .requires
                .iter()
                .filter(|r| !index.contains_key(r.as_str()))
                .map(|r| r.as_str())
                .collect();
            if !missing.is_empty() {
                g.problems[i] = Some(format!("requires unknown unit {}", missing.join(", ")));
            }
            g.requires[i] = resolve(&spec.requires);
            g.wants[i] = resolve(&spec.wants);
            g.on_failure[i] = resolve(&spec.on_failure);
            for &j in &g.requires[i].clone() {
                push_unique(&mut g.required_by[j], i);
                push_unique(&mut g.preds[i], j);
            }
            for j in resolve(&spec.after) {
                push_unique(&mut g.preds[i], j);
            }
            for j in resolve(&spec.before) {
                push_unique(&mut g.preds[j], i);
            }
            for j in resolve(&spec.conflicts) {
                if j != i {
                    push_unique(&mut g.conflicts[i], j);
                    push_unique(&mut g.conflicts[j], i);
                }
            }
        }
        for i in 0..n {
            for &p in &g.preds[i].clone() {
                push_unique(&mut g.succs[p], i);
            }
        }
        for cycle in find_cycles(&g.preds) {
            let mut members: Vec<&str> = cycle.iter().map(|&i| names[i].as_str()).collect();
            members.sort_unstable();
            let msg = format!("dependency cycle between {}", members.join(", "));
            for &i in &cycle {
                g.problems[i] = Some(msg.clone());
            }
        }
        g
    }
}

/// Strongly connected components with more than one member, or with a self-edge
/// (iterative Tarjan, so a deep chain cannot overflow the stack).
pub fn find_cycles(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = edges.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<usize> = Vec::new();
    let mut next = 0usize;
    let mut out = Vec::new();
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        // (node, position in its edge list)
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut pos)) = work.last_mut() {
            if *pos < edges[v].len() {
                let w = edges[v][*pos];
                *pos += 1;
                if index[w] == usize::MAX {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut comp = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    comp.push(w);
                    if w == v {
                        break;
                    }
                }
                if comp.len() > 1 || edges[v].contains(&v) {
                    comp.sort_unstable();
                    out.push(comp);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_cycles_in_a_dag() {
        let edges = vec![vec![1, 2], vec![2], vec![]];
        assert!(find_cycles(&edges).is_empty());
    }

    #[test]
    fn finds_each_cycle_and_self_loops() {
        // 0 -> 1 -> 2 -> 0, 3 -> 3, 4 -> 0 (outside the cycle)
        let edges = vec![vec![1], vec![2], vec![0], vec![3], vec![0]];
        let mut cycles = find_cycles(&edges);
        cycles.sort();
        assert_eq!(cycles, vec![vec![0, 1, 2], vec![3]]);
    }

    #[test]
    fn deep_chain_does_not_overflow() {
        let n = 100_000;
        let edges: Vec<Vec<usize>> = (0..n)
            .map(|i| if i + 1 < n { vec![i + 1] } else { vec![] })
            .collect();
        assert!(find_cycles(&edges).is_empty());
    }
}
