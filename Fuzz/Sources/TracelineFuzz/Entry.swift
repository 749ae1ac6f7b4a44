#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The target this process fuzzes, named by `TRACELINE_FUZZ_TARGET`; read once.
let selectedTarget: FuzzTarget = {
    let name = getenv("TRACELINE_FUZZ_TARGET").map { String(cString: $0) } ?? ""
    guard let target = FuzzTarget.all.first(where: { $0.name == name }) else {
        let names = FuzzTarget.all.map(\.name).joined(separator: ", ")
        print("TRACELINE_FUZZ_TARGET must be one of: \(names)")
        exit(2)
    }
    return target
}()

/// One input from libFuzzer, run through the selected target. A broken invariant traps
/// (`precondition`), which libFuzzer reports as a crash with the input saved.
func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size)
    selectedTarget.run(bytes)
    return 0
}
