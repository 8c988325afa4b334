//! The dependency graph: resolved `requires`/`wants`/`conflicts`/`on_failure` edges,
//! ordering edges (`after`, `before`, and `requires`, which implies ordering), and cycles.

pub use crate::unit::deps::find_cycles;
use crate::unit::deps::{ordering_edges, problems};
use crate::unit::{UnitName, UnitSpec};

/// What a dependency names: one unit, or a pool (all instances `NAME@N` of `NAME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Unit(usize),
    Pool(usize),
}

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
    /// The pool an instance belongs to (index into `pools`).
    pub pool_of: Vec<Option<usize>>,
    /// Each pool's instances.
    pub pools: Vec<Vec<usize>>,
    /// `requires` and `preds` with a pool's instances folded into one target.
    pub req_targets: Vec<Vec<Target>>,
    pub pred_targets: Vec<Vec<Target>>,
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
        let index = crate::unit::deps::name_index(names);
        let mut g = Graph {
            preds: vec![Vec::new(); n],
            succs: vec![Vec::new(); n],
            requires: vec![Vec::new(); n],
            required_by: vec![Vec::new(); n],
            wants: vec![Vec::new(); n],
            conflicts: vec![Vec::new(); n],
            on_failure: vec![Vec::new(); n],
            problems: vec![None; n],
            pool_of: vec![None; n],
            pools: Vec::new(),
            req_targets: Vec::new(),
            pred_targets: Vec::new(),
        };
        let mut pool_index: std::collections::HashMap<&str, usize> = Default::default();
        for (i, name) in names.iter().enumerate() {
            if name.as_str().contains('@') {
                let p = *pool_index.entry(name.template()).or_insert_with(|| {
                    g.pools.push(Vec::new());
                    g.pools.len() - 1
                });
                g.pools[p].push(i);
                g.pool_of[i] = Some(p);
            }
        }
        let resolve = |list: &[UnitName]| -> Vec<usize> {
            let mut out = Vec::new();
            for name in list {
                for &j in index.get(name.as_str()).into_iter().flatten() {
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
        g.req_targets = g.requires.iter().map(|l| g.fold(l)).collect();
        g.pred_targets = g.preds.iter().map(|l| g.fold(l)).collect();
        g
    }

    /// The list with every pool's instances folded into one `Target::Pool`.
    fn fold(&self, list: &[usize]) -> Vec<Target> {
        let mut out: Vec<Target> = Vec::with_capacity(list.len());
        for &j in list {
            let t = match self.pool_of[j] {
                Some(p) => Target::Pool(p),
                None => Target::Unit(j),
            };
            if !out.contains(&t) {
                out.push(t);
            }
        }
        out
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
        let mut pool_of = vec![None; slots];
        for (k, p) in self.pool_of.into_iter().enumerate() {
            pool_of[order[k]] = p;
        }
        let targets = |v: Vec<Vec<Target>>| -> Vec<Vec<Target>> {
            let mut out = vec![Vec::new(); slots];
            for (k, list) in v.into_iter().enumerate() {
                out[order[k]] = list
                    .into_iter()
                    .map(|t| match t {
                        Target::Unit(j) => Target::Unit(order[j]),
                        pool => pool,
                    })
                    .collect();
            }
            out
        };
        Graph {
            preds: map(self.preds),
            succs: map(self.succs),
            requires: map(self.requires),
            required_by: map(self.required_by),
            wants: map(self.wants),
            conflicts: map(self.conflicts),
            on_failure: map(self.on_failure),
            problems,
            pool_of,
            pools: self
                .pools
                .into_iter()
                .map(|m| m.into_iter().map(|j| order[j]).collect())
                .collect(),
            req_targets: targets(self.req_targets),
            pred_targets: targets(self.pred_targets),
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
