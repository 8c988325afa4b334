//! The dependency graph: resolved `requires`/`wants`/`conflicts`/`on_failure` edges,
//! ordering edges (`after`, `before`, and `requires`, which implies ordering), and cycles.

use std::collections::HashMap;

pub use crate::unit::deps::find_cycles;
use crate::unit::deps::{ordering_edges, problems};
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
    /// Why a unit can never start: an unknown required unit, or membership in a cycle
    /// (the rules `sup check` applies too: `unit::deps`).
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
            g.requires[i] = resolve(&spec.requires);
            g.wants[i] = resolve(&spec.wants);
            g.on_failure[i] = resolve(&spec.on_failure);
            for &j in &g.requires[i].clone() {
                push_unique(&mut g.required_by[j], i);
            }
            for j in resolve(&spec.conflicts) {
                if j != i {
                    push_unique(&mut g.conflicts[i], j);
                    push_unique(&mut g.conflicts[j], i);
                }
            }
        }
        let ordering = ordering_edges(names, specs);
        for (i, list) in ordering.iter().enumerate() {
            g.preds[i] = list.iter().map(|&(j, _)| j).collect();
            for &(j, _) in list {
                g.succs[j].push(i);
            }
        }
        g.problems = problems(names, specs, &ordering)
            .into_iter()
            .map(|p| p.map(|p| p.describe(names)))
            .collect();
        g
    }

    /// The graph built over `order` (positions `0..order.len()`), moved to the engine's
    /// slots: position `k` becomes slot `order[k]`; slots not in `order` get no edges.
    pub fn spread(self, order: &[usize], slots: usize) -> Graph {
        let map = |v: Vec<Vec<usize>>| -> Vec<Vec<usize>> {
            let mut out = vec![Vec::new(); slots];
            for (k, list) in v.into_iter().enumerate() {
                out[order[k]] = list.into_iter().map(|j| order[j]).collect();
            }
            out
        };
        let mut problems = vec![None; slots];
        for (k, p) in self.problems.into_iter().enumerate() {
            problems[order[k]] = p;
        }
        Graph {
            preds: map(self.preds),
            succs: map(self.succs),
            requires: map(self.requires),
            required_by: map(self.required_by),
            wants: map(self.wants),
            conflicts: map(self.conflicts),
            on_failure: map(self.on_failure),
            problems,
        }
    }
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
