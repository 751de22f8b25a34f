fn main() {
    let src = std::fs::read_to_string("/tmp/big.schema.ts").unwrap();
    let t = std::time::Instant::now();
    let l = instant_schema::parse_ts(&src, std::path::Path::new("/tmp/big.schema.ts")).unwrap();
    eprintln!("read: {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let s = l.schema.with_system_namespaces();
    eprintln!("sys: {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let out = instant_codegen::expand_schema(&s, &[]).unwrap();
    eprintln!("expand: {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let n = out.to_string().len();
    eprintln!("to_string: {:?} {n}", t.elapsed());
}
