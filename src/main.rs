fn main() {
    eprintln!("qnetd: not built yet");
    std::process::exit(1);
}
