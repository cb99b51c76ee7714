//! Registration of a documented primitive whose last argument is an optional options map: `name(a, b)` and
//! `name(a, b, #{...})` are one primitive, registered twice into Rhai. The doc goes into the registry, and the map is
//! validated against the doc's option specs ([`Options::new`]) before the primitive runs; without a map it gets
//! [`Options::empty`], so defaults come from the same specs.
//!
//! `registerN` registers a function of N positional arguments, `register_methodN` a method: a receiver (`&mut T`,
//! callable as `x.name(...)` and `name(x, ...)`) and N further arguments. Arguments taking text are `String`.
//! The primitive's name in option errors is the doc's name.

use std::sync::Arc;

use rhai::{EvalAltResult, Map, Variant};

use crate::docs::{FnDoc, OptSpec};
use crate::options::Options;
use crate::session::Registrar;

type Res<T> = Result<T, Box<EvalAltResult>>;

/// A primitive's implementation with what validates its options map.
struct Primitive<F> {
    f: F,
    name: String,
    specs: Vec<OptSpec>,
}

impl<F> Primitive<F> {
    /// The options of a call with a trailing map (unknown keys are an error listing the valid ones).
    fn with(&self, map: Map) -> Res<Options> {
        Options::new(&self.name, map, &self.specs)
    }
    /// The options of a call without one (every option at its documented default).
    fn without(&self) -> Options {
        Options::empty(&self.name, &self.specs)
    }
}

/// Adds `doc` to the registry; returns the name to register and the primitive twice (one per overload).
fn add<F>(reg: &mut Registrar, doc: FnDoc, f: F) -> (String, Arc<Primitive<F>>, Arc<Primitive<F>>) {
    let p = Arc::new(Primitive { f, name: doc.name.clone(), specs: doc.options.clone() });
    let name = doc.name.clone();
    reg.docs.add(doc);
    (name, p.clone(), p)
}

/// Registers `name()` and `name(options)`.
pub fn register0<R, F>(reg: &mut Registrar, doc: FnDoc, f: F)
where
    R: Variant + Clone,
    F: Fn(&Options) -> Res<R> + Send + Sync + 'static,
{
    let (name, p, q) = add(reg, doc, f);
    reg.engine.register_fn(&name, move |map: Map| -> Res<R> { (p.f)(&p.with(map)?) });
    reg.engine.register_fn(&name, move || -> Res<R> { (q.f)(&q.without()) });
}

/// Registers `name(a)` and `name(a, options)`.
pub fn register1<A, R, F>(reg: &mut Registrar, doc: FnDoc, f: F)
where
    A: Variant + Clone,
    R: Variant + Clone,
    F: Fn(A, &Options) -> Res<R> + Send + Sync + 'static,
{
    let (name, p, q) = add(reg, doc, f);
    reg.engine.register_fn(&name, move |a: A, map: Map| -> Res<R> { (p.f)(a, &p.with(map)?) });
    reg.engine.register_fn(&name, move |a: A| -> Res<R> { (q.f)(a, &q.without()) });
}

/// Registers `name(a, b)` and `name(a, b, options)`.
pub fn register2<A, B, R, F>(reg: &mut Registrar, doc: FnDoc, f: F)
where
    A: Variant + Clone,
    B: Variant + Clone,
    R: Variant + Clone,
    F: Fn(A, B, &Options) -> Res<R> + Send + Sync + 'static,
{
    let (name, p, q) = add(reg, doc, f);
    reg.engine.register_fn(&name, move |a: A, b: B, map: Map| -> Res<R> { (p.f)(a, b, &p.with(map)?) });
    reg.engine.register_fn(&name, move |a: A, b: B| -> Res<R> { (q.f)(a, b, &q.without()) });
}

/// Registers `name(a, b, c)` and `name(a, b, c, options)`.
pub fn register3<A, B, C, R, F>(reg: &mut Registrar, doc: FnDoc, f: F)
where
    A: Variant + Clone,
    B: Variant + Clone,
    C: Variant + Clone,
    R: Variant + Clone,
    F: Fn(A, B, C, &Options) -> Res<R> + Send + Sync + 'static,
{
    let (name, p, q) = add(reg, doc, f);
    reg.engine.register_fn(&name, move |a: A, b: B, c: C, map: Map| -> Res<R> { (p.f)(a, b, c, &p.with(map)?) });
    reg.engine.register_fn(&name, move |a: A, b: B, c: C| -> Res<R> { (q.f)(a, b, c, &q.without()) });
}

/// Registers the method `x.name(a)` and `x.name(a, options)` on values of type `T`.
pub fn register_method1<T, A, R, F>(reg: &mut Registrar, doc: FnDoc, f: F)
where
    T: Variant + Clone,
    A: Variant + Clone,
    R: Variant + Clone,
    F: Fn(&mut T, A, &Options) -> Res<R> + Send + Sync + 'static,
{
    let (name, p, q) = add(reg, doc, f);
    reg.engine.register_fn(&name, move |x: &mut T, a: A, map: Map| -> Res<R> { (p.f)(x, a, &p.with(map)?) });
    reg.engine.register_fn(&name, move |x: &mut T, a: A| -> Res<R> { (q.f)(x, a, &q.without()) });
}

/// Registers the method `x.name(a, b)` and `x.name(a, b, options)` on values of type `T`.
pub fn register_method2<T, A, B, R, F>(reg: &mut Registrar, doc: FnDoc, f: F)
where
    T: Variant + Clone,
    A: Variant + Clone,
    B: Variant + Clone,
    R: Variant + Clone,
    F: Fn(&mut T, A, B, &Options) -> Res<R> + Send + Sync + 'static,
{
    let (name, p, q) = add(reg, doc, f);
    reg.engine.register_fn(&name, move |x: &mut T, a: A, b: B, map: Map| -> Res<R> { (p.f)(x, a, b, &p.with(map)?) });
    reg.engine.register_fn(&name, move |x: &mut T, a: A, b: B| -> Res<R> { (q.f)(x, a, b, &q.without()) });
}
