// SecretRedactor.redact on adversarial text of 1 KiB, 64 KiB and 1 MiB: the cost per call should
// not grow with the input (it reads at most the first 2.3 KiB), so ns per KiB falls as it grows.

import Traceline

func runRedactionBenchmark(runs: Int) {
    let inputs: [(name: String, head: String, unit: String)] = [
        ("\"a1B\" run (one mixed-case token)", "", "a1B"),
        ("postgres:// + \"@\"", "postgres://", "@"),
        ("\"password=\" repeated", "", "password="),
        (
            "connection error repeated", "",
            "cannot connect to postgres://admin:hunter2@db:5432/app (password=hunter2); "
        ),
    ]
    print("SecretRedactor.redact, median of \(runs) runs of 2000 calls")
    print("| input                              | size     | ns/call  | ns per KiB of input |")
    print("|------------------------------------|----------|----------|---------------------|")
    for input in inputs {
        for size in [1 << 10, 64 << 10, 1 << 20] {
            let text =
                input.head
                + String(repeating: input.unit, count: (size - input.head.utf8.count) / input.unit.utf8.count)
            let calls = 2000
            var samples: [Double] = []
            var characters = 0
            for _ in 0..<runs {
                let start = ContinuousClock.now
                for _ in 0..<calls { characters &+= SecretRedactor.redact(text).utf8.count }
                let elapsed = ContinuousClock.now - start
                samples.append(
                    (Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9)
                        / Double(calls))
            }
            precondition(characters > 0)
            let nanoseconds = median(samples)
            let kib = Double(text.utf8.count) / 1024
            let sizeText = size >= 1 << 20 ? "\(size >> 20) MiB" : "\(size >> 10) KiB"
            let perKiB = String((nanoseconds / kib * 10).rounded() / 10)
            print(
                "| \(column(input.name, 34)) | \(column(sizeText, 8)) | \(column(String(Int(nanoseconds.rounded())), 8)) | \(column(perKiB, 19)) |"
            )
        }
    }
}

private func column(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}
