import TracelineCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The process metrics Prometheus client libraries conventionally expose, read from `/proc`:
/// resident and virtual memory, CPU seconds, open and maximum file descriptors, start time.
public struct ProcessMetrics: MetricsSource {
    /// Paths whose file-system usage is reported as `traceline_disk_usage_ratio{path}`.
    public var diskPaths: [String]

    /// Creates the source; `diskPaths` are the file systems whose usage is reported.
    public init(diskPaths: [String] = ["/"]) {
        self.diskPaths = diskPaths
    }

    /// The memory this process may use: the cgroup v2 limit when one is set, else the machine's memory.
    public static func memoryLimitBytes() -> Double? {
        if let text = read("/sys/fs/cgroup/memory.max")?.trimmingSpaces.split(separator: "\n").first,
            let limit = Double(text), limit > 0
        {
            return limit
        }
        guard let meminfo = read("/proc/meminfo"),
            let line = meminfo.split(separator: "\n").first(where: { $0.hasPrefix("MemTotal:") }),
            let kilobytes = Double(line.filter(\.isNumber))
        else { return nil }
        return kilobytes * 1024
    }

    /// The process's resident set size in bytes (`/proc/self/statm`), or nil if it cannot be read.
    public static func residentMemoryBytes() -> Double? {
        guard let statm = read("/proc/self/statm") else { return nil }
        let fields = statm.split(separator: " ")
        guard fields.count > 1, let pages = Double(fields[1]) else { return nil }
        return pages * Double(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Used fraction of the file system holding `path`, or nil if it cannot be read.
    public static func diskUsageRatio(_ path: String) -> Double? {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0, stats.f_blocks > 0 else { return nil }
        let total = Double(stats.f_blocks) * Double(stats.f_frsize)
        let available = Double(stats.f_bavail) * Double(stats.f_frsize)
        let free = Double(stats.f_bfree) * Double(stats.f_frsize)
        let used = total - free
        // As df computes it: used / (used + available to unprivileged users).
        return used + available > 0 ? used / (used + available) : nil
    }

    /// Renders the `process_*` and Traceline host families; see `MetricsSource.renderFamilies`.
    public func renderFamilies(format: MetricsFormat) -> String {
        var writer = MetricFamilyWriter(format: format)
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        if let stat = Self.read("/proc/self/stat"), let close = stat.lastIndex(of: ")") {
            // Fields after "pid (comm)": state is field 3; utime 14, stime 15, starttime 22, vsize 23, rss 24.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            func field(_ number: Int) -> Double { fields.count > number - 3 ? Double(fields[number - 3]) ?? 0 : 0 }
            writer.counter(
                "process_cpu_seconds", help: "User and system CPU time spent in seconds.",
                [([], (field(14) + field(15)) / ticks)])
            writer.gauge("process_virtual_memory_bytes", help: "Virtual memory size in bytes.", [([], field(23))])
            writer.gauge(
                "process_resident_memory_bytes", help: "Resident memory size in bytes.", [([], field(24) * pageSize)])
            if let uptime = Self.read("/proc/uptime").flatMap({ Double($0.split(separator: " ").first ?? "") }) {
                var now = timespec()
                clock_gettime(CLOCK_REALTIME, &now)
                let bootTime = Double(now.tv_sec) - uptime
                writer.gauge(
                    "process_start_time_seconds", help: "Start time of the process since the Unix epoch in seconds.",
                    [([], (bootTime + field(22) / ticks).rounded())])
            }
        }
        var openFiles = 0
        if let directory = opendir("/proc/self/fd") {
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) {
                    String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                if name != "." && name != ".." { openFiles += 1 }
            }
            closedir(directory)
        }
        writer.gauge(
            "process_open_fds", help: "Number of open file descriptors.", [([], Double(max(0, openFiles - 1)))])
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
            writer.gauge(
                "process_max_fds", help: "Maximum number of open file descriptors.", [([], Double(limit.rlim_cur))])
        }
        if let limit = Self.memoryLimitBytes() {
            writer.gauge(
                "traceline_memory_limit_bytes",
                help: "Memory the process may use: its cgroup limit, else the machine's memory.", [([], limit)])
        }
        let disks = diskPaths.compactMap { path in Self.diskUsageRatio(path).map { ([("path", path)], $0) } }
        if !disks.isEmpty {
            writer.gauge(
                "traceline_disk_usage_ratio", help: "Used fraction of the file system holding each path.", disks)
        }
        return writer.text
    }

    static func read(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = fread(&buffer, 1, buffer.count - 1, file)
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
