// `import Traceline` brings every module of the SDK; a service that wants less imports the
// modules it uses (for example TracelineCore and TracelineOTLP).
@_exported import TracelineCore
@_exported import TracelineDebug
@_exported import TracelineHealth
@_exported import TracelineMetrics
@_exported import TracelineOTLP
