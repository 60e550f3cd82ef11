//! Bounds on what one flow run holds: its contexts and every value built for them.
//!
//! A flow's author controls values without running any code: a `set` step repeating a
//! reference four times grows the context fourfold per step (ten steps: a million times), a
//! sub-flow call copies the whole context, and a value nested into itself step after step gets
//! deep enough to overflow the stack when it is serialised or dropped. So every value is
//! measured while it is built ([`Budget`], used by `vars::resolve` for every step input and
//! result a flow builds), every [`Context`] keeps its size, and the contexts of one run (each
//! sub-flow's copy included) together stay within `RUMI_MAX_CONTEXT_BYTES`. A value is
//! charged before it is copied, so an oversized one is refused, never built. What a run
//! builds in all (every value, every sub-flow copy) is bounded too, at [`WORK_FACTOR`] times
//! that: a flow copying a large value from key to key, step after step, would otherwise keep
//! a core busy for seconds without ever holding too much.
//!
//! Sizes approximate memory: each JSON value counts `size_of::<Value>()` bytes, strings and
//! object keys add their bytes, and each key adds `size_of::<String>()` too. No value may be
//! nested deeper than [`MAX_VALUE_DEPTH`] levels below the context.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Map, Value};

/// Deepest nesting of a value in a context (the context's own keys are level 1). JSON data
/// rarely nests past a dozen levels; this bound keeps every recursive walk of a value (to
/// measure, serialise, compare or drop it) far from the stack's end.
pub const MAX_VALUE_DEPTH: usize = 64;
/// What one run may build in all, in multiples of `RUMI_MAX_CONTEXT_BYTES` (256 MiB with the
/// default): far more than a flow moving its data around needs, and about a second of copying.
pub const WORK_FACTOR: usize = 32;
/// What one value costs, whatever it holds.
const NODE_BYTES: usize = size_of::<Value>();
/// What an object key costs besides its bytes.
const KEY_BYTES: usize = size_of::<String>();

/// A value that would not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TooLarge {
    #[error("the flow's context would exceed {limit} bytes (RUMI_MAX_CONTEXT_BYTES)")]
    Bytes { limit: usize },
    #[error("a value would be nested deeper than {MAX_VALUE_DEPTH} levels")]
    Depth,
    #[error("the run would build more than {limit} bytes in all ({WORK_FACTOR} times RUMI_MAX_CONTEXT_BYTES)")]
    Work { limit: usize },
}

/// What one run has built, shared by its contexts and budgets.
#[derive(Debug)]
struct Work {
    done: AtomicUsize,
    cap: usize,
}

impl Work {
    fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            done: AtomicUsize::new(0),
            cap: limit.saturating_mul(WORK_FACTOR),
        })
    }

    fn add(&self, bytes: usize) -> Result<(), TooLarge> {
        let done = self.done.fetch_add(bytes, Ordering::Relaxed).saturating_add(bytes);
        if done > self.cap {
            return Err(TooLarge::Work { limit: self.cap });
        }
        Ok(())
    }
}

/// What a value being built may still use: the run's allowance minus what its contexts hold.
#[derive(Debug)]
pub struct Budget {
    left: usize,
    /// The configured bound, for messages.
    limit: usize,
    /// The run's total, when the budget belongs to a run.
    work: Option<Arc<Work>>,
}

// === impl Budget ===

impl Budget {
    /// A budget of `left` bytes, outside any run.
    pub fn new(left: usize, limit: usize) -> Self {
        Self {
            left,
            limit,
            work: None,
        }
    }

    /// Bytes left.
    pub fn left(&self) -> usize {
        self.left
    }

    /// Takes `bytes` from what is left.
    ///
    /// # Errors
    /// [`TooLarge::Bytes`] when fewer are left.
    pub fn charge(&mut self, bytes: usize) -> Result<(), TooLarge> {
        self.left = self
            .left
            .checked_sub(bytes)
            .ok_or(TooLarge::Bytes { limit: self.limit })?;
        self.work.as_ref().map_or(Ok(()), |w| w.add(bytes))
    }

    /// Charges one value placed at `depth`.
    ///
    /// # Errors
    /// [`TooLarge`].
    pub fn node(&mut self, depth: usize) -> Result<(), TooLarge> {
        if depth > MAX_VALUE_DEPTH {
            return Err(TooLarge::Depth);
        }
        self.charge(NODE_BYTES)
    }

    /// Charges an object key.
    ///
    /// # Errors
    /// [`TooLarge::Bytes`].
    pub fn key(&mut self, key: &str) -> Result<(), TooLarge> {
        self.charge(KEY_BYTES + key.len())
    }

    /// A copy of `v` placed at `depth`, charged before anything is copied.
    ///
    /// # Errors
    /// [`TooLarge`]; nothing is copied then.
    pub fn copy(&mut self, v: &Value, depth: usize) -> Result<Value, TooLarge> {
        let cost = measure(v, depth, self.left, self.limit)?;
        self.charge(cost)?;
        Ok(v.clone())
    }

    /// Appends `v` to `out` as text (a string as it is, `null` as nothing, anything else as
    /// JSON), charging its bytes as they are written.
    ///
    /// # Errors
    /// [`TooLarge::Bytes`]; `out` may then hold part of it.
    pub fn append_text(&mut self, v: &Value, out: &mut String) -> Result<(), TooLarge> {
        match v {
            Value::Null => Ok(()),
            Value::String(s) => {
                self.charge(s.len())?;
                out.push_str(s);
                Ok(())
            }
            other => {
                let mut w = Capped {
                    buf: Vec::new(),
                    left: self.left,
                };
                serde_json::to_writer(&mut w, other).map_err(|_| TooLarge::Bytes { limit: self.limit })?;
                self.charge(w.buf.len())?;
                out.push_str(&String::from_utf8_lossy(&w.buf));
                Ok(())
            }
        }
    }
}

/// A writer that refuses to grow past `left` bytes.
struct Capped {
    buf: Vec<u8>,
    left: usize,
}

impl std::io::Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.left = self
            .left
            .checked_sub(data.len())
            .ok_or_else(|| std::io::Error::other("too large"))?;
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The cost of `v` placed at `depth`. The walk stops as soon as the cost passes `max` or the
/// depth passes [`MAX_VALUE_DEPTH`], so measuring costs no more than what may be built.
///
/// # Errors
/// [`TooLarge`] (`limit` is named in the message).
pub fn measure(v: &Value, depth: usize, max: usize, limit: usize) -> Result<usize, TooLarge> {
    fn walk(v: &Value, depth: usize, used: &mut usize, max: usize, limit: usize) -> Result<(), TooLarge> {
        if depth > MAX_VALUE_DEPTH {
            return Err(TooLarge::Depth);
        }
        *used += NODE_BYTES;
        if let Value::String(s) = v {
            *used += s.len();
        }
        if *used > max {
            return Err(TooLarge::Bytes { limit });
        }
        match v {
            Value::Array(items) => items.iter().try_for_each(|x| walk(x, depth + 1, used, max, limit)),
            Value::Object(m) => m.iter().try_for_each(|(k, x)| {
                *used += KEY_BYTES + k.len();
                walk(x, depth + 1, used, max, limit)
            }),
            _ => Ok(()),
        }
    }
    let mut used = 0;
    walk(v, depth, &mut used, max, limit)?;
    Ok(used)
}

/// One flow's context, the map `$ctx` references read, with its size kept within its
/// allowance (the run's, minus what the callers' contexts hold).
#[derive(Debug)]
pub struct Context {
    map: Map<String, Value>,
    bytes: usize,
    /// What this context may hold.
    cap: usize,
    /// `RUMI_MAX_CONTEXT_BYTES`, for messages.
    limit: usize,
    work: Arc<Work>,
}

// === impl Context ===

impl Context {
    /// An empty context of a new run, which may hold `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            map: Map::new(),
            bytes: 0,
            cap: limit,
            limit,
            work: Work::new(limit),
        }
    }

    /// A run's first context: the keys of `inputs` at the top level, and `inputs` itself.
    ///
    /// # Errors
    /// [`TooLarge`] when the inputs do not fit (twice: they are held twice).
    pub fn for_inputs(inputs: Value, limit: usize) -> Result<Self, TooLarge> {
        let mut ctx = Self::new(limit);
        if let Value::Object(m) = &inputs {
            for (k, v) in m {
                ctx.insert(k.clone(), v.clone())?;
            }
        }
        ctx.insert("inputs".into(), inputs)?;
        Ok(ctx)
    }

    pub fn map(&self) -> &Map<String, Value> {
        &self.map
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The budget of a value built while this context is the innermost of its run.
    pub fn budget(&self) -> Budget {
        Budget {
            left: self.cap - self.bytes,
            limit: self.limit,
            work: Some(self.work.clone()),
        }
    }

    /// Sets `key` (replacing what it held).
    ///
    /// # Errors
    /// [`TooLarge`]; the context is unchanged then.
    pub fn insert(&mut self, key: String, value: Value) -> Result<(), TooLarge> {
        let old = self.map.get(&key).map_or(0, |v| entry_cost(&key, v));
        let room = self.cap - (self.bytes - old);
        let new = KEY_BYTES + key.len() + measure(&value, 1, room.saturating_sub(KEY_BYTES + key.len()), self.limit)?;
        if new > room {
            return Err(TooLarge::Bytes { limit: self.limit });
        }
        self.bytes = self.bytes - old + new;
        self.map.insert(key, value);
        Ok(())
    }

    /// Sets `group.key`, making `group` an object if it is not one.
    ///
    /// # Errors
    /// [`TooLarge`]; the context is unchanged then.
    pub fn insert_in(&mut self, group: &str, key: &str, value: Value) -> Result<(), TooLarge> {
        if !matches!(self.map.get(group), Some(Value::Object(_))) {
            self.insert(group.to_owned(), Value::Object(Map::new()))?;
        }
        let entry = KEY_BYTES + key.len();
        let old = match self.map.get(group) {
            Some(Value::Object(slot)) => slot
                .get(key)
                .map_or(0, |v| entry + measure(v, 2, usize::MAX, 0).unwrap_or(0)),
            _ => 0,
        };
        let room = self.cap - (self.bytes - old);
        let new = entry + measure(&value, 2, room.saturating_sub(entry), self.limit)?;
        if new > room {
            return Err(TooLarge::Bytes { limit: self.limit });
        }
        if let Some(Value::Object(slot)) = self.map.get_mut(group) {
            slot.insert(key.to_owned(), value);
            self.bytes = self.bytes - old + new;
        }
        Ok(())
    }

    /// A sub-flow's context: a copy of this one plus `args`, allowed what this one leaves.
    ///
    /// # Errors
    /// [`TooLarge`] when the copy and the arguments do not fit.
    pub fn child(&self, args: Map<String, Value>) -> Result<Self, TooLarge> {
        let cap = self.cap - self.bytes;
        if self.bytes > cap {
            return Err(TooLarge::Bytes { limit: self.limit });
        }
        self.work.add(self.bytes)?;
        let mut child = Self {
            map: self.map.clone(),
            bytes: self.bytes,
            cap,
            limit: self.limit,
            work: self.work.clone(),
        };
        for (k, v) in args {
            child.insert(k, v)?;
        }
        Ok(child)
    }

    pub fn into_map(self) -> Map<String, Value> {
        self.map
    }
}

fn entry_cost(key: &str, v: &Value) -> usize {
    KEY_BYTES + key.len() + measure(v, 1, usize::MAX, 0).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_value_is_charged_before_it_is_copied() {
        let big = json!("x".repeat(1000));
        let mut b = Budget::new(2000, 2000);
        assert!(b.copy(&big, 1).is_ok());
        assert_eq!(b.copy(&big, 1), Err(TooLarge::Bytes { limit: 2000 }));
        assert!(b.left() < 1000, "the refused copy took nothing: {}", b.left());
        let left = b.left();
        let mut out = String::new();
        assert!(b.append_text(&json!({"k": "x".repeat(5000)}), &mut out).is_err());
        assert!(out.is_empty() && b.left() == left);
    }

    #[test]
    fn nesting_is_bounded_wherever_the_value_comes_from() {
        let mut deep = json!(1);
        for _ in 0..MAX_VALUE_DEPTH - 1 {
            deep = json!([deep]);
        }
        assert!(measure(&deep, 1, usize::MAX, 0).is_ok());
        assert_eq!(measure(&deep, 2, usize::MAX, 0), Err(TooLarge::Depth));
        let mut ctx = Context::new(1 << 20);
        ctx.insert("d".into(), deep.clone()).unwrap();
        assert_eq!(ctx.insert_in("_step_out", "s", deep), Err(TooLarge::Depth));
    }

    #[test]
    fn the_context_keeps_its_size_and_refuses_what_does_not_fit() {
        let mut ctx = Context::for_inputs(json!({"a": "xyz"}), 4096).unwrap();
        let held = ctx.bytes();
        assert_eq!(held, 2 * (KEY_BYTES + 1 + NODE_BYTES + 3) + KEY_BYTES + 6 + NODE_BYTES);
        ctx.insert("v".into(), json!("y".repeat(1000))).unwrap();
        // Replacing a key gives back what it held.
        ctx.insert("v".into(), json!("z")).unwrap();
        assert_eq!(ctx.bytes(), held + KEY_BYTES + 1 + NODE_BYTES + 1);
        let before = ctx.bytes();
        assert_eq!(
            ctx.insert("w".into(), json!("w".repeat(5000))),
            Err(TooLarge::Bytes { limit: 4096 })
        );
        assert_eq!(ctx.bytes(), before, "unchanged after a refusal");
        assert!(!ctx.map().contains_key("w"));
        assert!(
            Context::for_inputs(json!({"a": "x".repeat(3000)}), 4096).is_err(),
            "held twice"
        );
    }

    #[test]
    fn what_a_run_builds_in_all_is_bounded() {
        let limit = 100_000;
        let mut ctx = Context::new(limit);
        ctx.insert("v".into(), json!("x".repeat(20_000))).unwrap();
        let v = ctx.map()["v"].clone();
        // Copying v to w over and over never holds too much, but adds up.
        let mut copies = 0;
        let err = loop {
            match ctx.budget().copy(&v, 1) {
                Ok(w) => {
                    ctx.insert("w".into(), w).unwrap();
                    copies += 1;
                }
                Err(e) => break e,
            }
        };
        assert_eq!(
            err,
            TooLarge::Work {
                limit: limit * WORK_FACTOR
            }
        );
        assert_eq!(copies, limit * WORK_FACTOR / (20_000 + NODE_BYTES));
        // Budgets outside a run count nothing.
        let mut b = Budget::new(usize::MAX, 0);
        for _ in 0..1000 {
            b.copy(&v, 1).unwrap();
        }
    }

    #[test]
    fn a_sub_flow_copy_counts_against_the_same_run() {
        let mut ctx = Context::new(10_000);
        ctx.insert("v".into(), json!("x".repeat(3500))).unwrap();
        let child = ctx.child(Map::new()).unwrap();
        assert_eq!(child.budget().left(), 10_000 - 2 * ctx.bytes());
        // A grandchild would hold a third copy: more than the run may.
        assert!(child.child(Map::new()).is_err());
        ctx.insert("w".into(), json!("x".repeat(3500))).unwrap();
        assert!(ctx.child(Map::new()).is_err(), "the copy alone would not fit");
    }
}
