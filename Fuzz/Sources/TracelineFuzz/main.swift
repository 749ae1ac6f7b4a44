import CLibFuzzer

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Refuses an unknown TRACELINE_FUZZ_TARGET before fuzzing starts, then hands control to
// libFuzzer with our arguments; it calls `fuzzOneInput` for every input.
print("fuzzing \(selectedTarget.name)")
var argumentCount = CommandLine.argc
var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argumentCount, &arguments) { data, size in fuzzOneInput(data, size) })
