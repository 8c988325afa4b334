//! Dependency rules between units, shared by `sup check` and the engine so both judge a
//! directory alike: the ordering edges (`requires` and `after` of a unit, `before` of the
//! others), the units that can never start (a `requires` naming no unit, a place in an
//! ordering cycle), and cycle finding.

use std::collections::{HashMap, VecDeque};

use super::spec::{UnitName, UnitSpec};

/// Why one unit waits for another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Via {
    /// The waiting unit `requires` the other (requires implies after).
    Requires,
    /// The waiting unit is `after` the other.
    After,
    /// The other unit is `before` the waiting one (the key is in the other's file).
    Before,
}

impl Via {
    pub fn key(self) -> &'static str {
        match self {
            Via::Requires => "requires",
            Via::After => "after",
            Via::Before => "before",
        }
    }
}

/// `edges[i]` lists `(j, via)`: unit `i` starts only once `j` is ready (when both are
/// being started). One entry per `j`, the strongest reason kept; sorted by `j`.
/// `specs[i]` is `None` for a rejected file (it has no edges); names outside `names`
/// are left out.
pub fn ordering_edges(names: &[UnitName], specs: &[Option<&UnitSpec>]) -> Vec<Vec<(usize, Via)>> {
    let index = name_index(names);
    let mut edges: Vec<Vec<(usize, Via)>> = vec![Vec::new(); names.len()];
    for (i, spec) in specs.iter().enumerate() {
        let Some(spec) = spec else { continue };
        let lists = [(&spec.requires, Via::Requires), (&spec.after, Via::After)];
        for (list, via) in lists {
            for name in list {
                for &j in index.get(name.as_str()).into_iter().flatten() {
                    edges[i].push((j, via));
                }
            }
        }
        for name in &spec.before {
            for &j in index.get(name.as_str()).into_iter().flatten() {
                edges[j].push((i, Via::Before));
            }
        }
    }
    for list in &mut edges {
        list.sort_unstable();
        list.dedup_by_key(|(j, _)| *j);
    }
    edges
}

/// Units by the names that reach them: its own, and for an instance `NAME@N` of a pool
/// also `NAME` (a dependency on a pool is one on all its instances).
pub fn name_index(names: &[UnitName]) -> HashMap<&str, Vec<usize>> {
    let mut index: HashMap<&str, Vec<usize>> = HashMap::with_capacity(names.len());
    for (i, n) in names.iter().enumerate() {
        index.entry(n.as_str()).or_default().push(i);
        if n.as_str().contains('@') {
            index.entry(n.template()).or_default().push(i);
        }
    }
    index
}

/// Why a unit can never start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DepProblem {
    /// `requires` names units that have no file.
    UnknownRequires(Vec<UnitName>),
    /// The unit is in an ordering cycle with these units (indices, sorted, itself included).
    Cycle(Vec<usize>),
}

impl DepProblem {
    /// The message the engine shows as the failure reason.
    pub fn describe(&self, names: &[UnitName]) -> String {
        match self {
            DepProblem::UnknownRequires(missing) => {
                let missing: Vec<&str> = missing.iter().map(UnitName::as_str).collect();
                format!("requires unknown unit {}", short_list(&missing))
            }
            DepProblem::Cycle(members) => {
                let mut members: Vec<&str> = members.iter().map(|&i| names[i].as_str()).collect();
                members.sort_unstable();
                format!("dependency cycle between {}", short_list(&members))
            }
        }
    }
}

/// `a, b, c` — at most 10 names, then how many more.
pub fn short_list(words: &[&str]) -> String {
    let shown = words
        .iter()
        .take(10)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    match words.len() {
        n if n > 10 => format!("{shown} and {} more", n - 10),
        _ => shown,
    }
}

/// For each unit, why it can never start (`None`: nothing in its dependencies stops
/// it). A cycle wins over unknown required units.
pub fn problems(
    names: &[UnitName],
    specs: &[Option<&UnitSpec>],
    edges: &[Vec<(usize, Via)>],
) -> Vec<Option<DepProblem>> {
    let known = name_index(names);
    let mut out: Vec<Option<DepProblem>> = specs
        .iter()
        .map(|spec| {
            let missing: Vec<UnitName> = (*spec)?
                .requires
                .iter()
                .filter(|r| !known.contains_key(r.as_str()))
                .cloned()
                .collect();
            (!missing.is_empty()).then_some(DepProblem::UnknownRequires(missing))
        })
        .collect();
    let plain: Vec<Vec<usize>> = edges
        .iter()
        .map(|list| list.iter().map(|&(j, _)| j).collect())
        .collect();
    for cycle in find_cycles(&plain) {
        for &i in &cycle {
            out[i] = Some(DepProblem::Cycle(cycle.clone()));
        }
    }
    out
}

/// A shortest cycle from `start` back to it through `members` (an ordering cycle as
/// found by `problems`): `(from, via, to)` steps, each `from` waiting for `to`.
pub fn cycle_through(
    start: usize,
    members: &[usize],
    edges: &[Vec<(usize, Via)>],
) -> Vec<(usize, Via, usize)> {
    let inside = |j: &usize| members.binary_search(j).is_ok();
    // Breadth-first from `start`; `came[j]` is the step that reached j first.
    let mut came: HashMap<usize, (usize, Via)> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for &(w, via) in edges[v].iter().filter(|(w, _)| inside(w)) {
            if w == start {
                let mut path = vec![(v, via, w)];
                let mut at = v;
                while at != start {
                    let Some(&(from, via)) = came.get(&at) else {
                        break;
                    };
                    path.push((from, via, at));
                    at = from;
                }
                path.reverse();
                return path;
            }
            if let std::collections::hash_map::Entry::Vacant(e) = came.entry(w) {
                e.insert((v, via));
                queue.push_back(w);
            }
        }
    }
    Vec::new()
}

/// Strongly connected components with more than one member, or with a self-edge
/// (iterative Tarjan, so a deep chain cannot overflow the stack). Members sorted.
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
