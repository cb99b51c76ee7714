include!("../build/rpath.rs");
fn main() {
    emit_libtorch_rpath();
}
