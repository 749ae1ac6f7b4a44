import ExaiDaemon
import Testing

@Suite(.timeLimit(.minutes(2))) struct DaemonConfigurationTests {
    @Test("defaults are the reference daemon's")
    func defaults() {
        let configuration = DaemonConfiguration.fromEnvironment([:])
        #expect(configuration.host == "127.0.0.1")
        #expect(configuration.port == 8079)
        #expect(configuration.metricsPort == 8000)
        #expect(configuration.maxMessageBytes == 33_554_432)
        #expect(configuration.callTimeout == .seconds(67))
        #expect(configuration.progressInterval == .seconds(8))
        #expect(configuration.helloTimeout == .seconds(15))
        #expect(
            [
                configuration.globalMaxInflight, configuration.kimiMaxInflight, configuration.glmMaxInflight,
                configuration.sessionMaxInflight,
            ] == [24, 6, 4, 8])
        #expect(configuration.defaultModel == "glm-4.5-flash")
        #expect(configuration.kimi.baseURL == "https://api.moonshot.ai/v1")
        #expect(configuration.glm.baseURL == "https://api.z.ai/api/paas/v4")
        #expect(configuration.kimi.timeout == .seconds(30))
        #expect(configuration.kimi.breakerFailures == 4 && configuration.kimi.breakerCooldown == .seconds(120))
        #expect(configuration.warnings.isEmpty)
    }

    @Test("variables are read; broken values warn and keep the default; alias keys work")
    func parsing() {
        let configuration = DaemonConfiguration.fromEnvironment([
            "EXAI_WS_PORT": "9000", "METRICS_PORT": "0", "EXAI_WS_CALL_TIMEOUT": "2.5",
            "EXAI_WS_GLM_MAX_INFLIGHT": "zero",
            "EXAI_WS_HELLO_TIMEOUT": "-1", "RATE_LIMIT_PER_SESSION": "10/2", "RATE_LIMIT_PER_IP": "ten",
            "EXAI_WS_COMPAT_TEXT": "false",
            "MOONSHOT_API_KEY": "k1", "ZHIPUAI_API_KEY": "k2", "GLM_API_URL": "ftp://nope",
            "EXAI_WS_DISABLE_COALESCE_FOR_TOOLS": "chat, version",
        ])
        #expect(configuration.port == 9000)
        #expect(configuration.metricsPort == 0)
        #expect(configuration.callTimeout == .milliseconds(2500))
        #expect(configuration.glmMaxInflight == 4)
        #expect(configuration.helloTimeout == .seconds(15))
        #expect(configuration.sessionRate == .init(capacity: 10, perSecond: 2))
        #expect(configuration.ipRate == .init(capacity: 100, perSecond: 10))
        #expect(!configuration.compatText)
        #expect(configuration.kimi.apiKey == "k1" && configuration.glm.apiKey == "k2")
        #expect(configuration.disableCoalesceForTools == ["chat", "version"])
        #expect(configuration.warnings.count == 4, "\(configuration.warnings)")
        #expect(configuration.warnings.allSatisfy { !$0.contains("k1") && !$0.contains("k2") })
    }

    @Test("streaming settings: on by default, per provider switches and idle timeouts, byte bounds")
    func streaming() {
        let defaults = DaemonConfiguration.fromEnvironment([:])
        #expect(defaults.kimi.stream && defaults.glm.stream)
        #expect(defaults.glm.streamIdleTimeout == .seconds(30) && defaults.kimi.maxAnswerBytes == 1 << 20)
        #expect(
            defaults.streamBufferBytes == 65_536 && defaults.streamChunkInterval == .milliseconds(50)
                && defaults.streamChunkBytes == 1024)
        let configuration = DaemonConfiguration.fromEnvironment([
            "KIMI_STREAM": "false", "GLM_STREAM_IDLE_TIMEOUT_SECS": "2.5", "EXAI_CHAT_MAX_ANSWER_BYTES": "2048",
            "EXAI_STREAM_MAX_EVENT_BYTES": "4096", "EXAI_WS_STREAM_BUFFER_BYTES": "8192",
            "EXAI_WS_STREAM_CHUNK_MS": "10",
            "EXAI_WS_STREAM_CHUNK_BYTES": "100", "GLM_STREAM": "maybe",
        ])
        #expect(!configuration.kimi.stream && configuration.glm.stream)
        #expect(
            configuration.glm.streamIdleTimeout == .milliseconds(2500)
                && configuration.kimi.streamIdleTimeout == .seconds(30))
        #expect(configuration.kimi.maxAnswerBytes == 2048 && configuration.glm.maxAnswerBytes == 2048)
        #expect(configuration.glm.maxEventBytes == 4096 && configuration.streamBufferBytes == 8192)
        #expect(configuration.streamChunkInterval == .milliseconds(10) && configuration.streamChunkBytes == 100)
        #expect(configuration.warnings.count == 1 && configuration.warnings[0].hasPrefix("GLM_STREAM=maybe"))
        let help = DaemonConfiguration.helpText
        for name in [
            "KIMI_STREAM", "GLM_STREAM_IDLE_TIMEOUT_SECS", "EXAI_CHAT_MAX_ANSWER_BYTES", "EXAI_WS_STREAM_BUFFER_BYTES",
        ] {
            #expect(help.contains(name), "\(name)")
        }
    }

    @Test("--help lists every variable the daemon reads")
    func help() {
        let help = DaemonConfiguration.helpText
        for name in [
            "EXAI_WS_HOST", "EXAI_WS_PORT", "METRICS_PORT", "EXAI_WS_TOKEN", "KIMI_API_URL", "KIMI_API_KEY",
            "GLM_API_URL",
            "GLM_API_KEY", "EXAI_WS_GLOBAL_MAX_INFLIGHT", "EXAI_WS_CALL_TIMEOUT", "RATE_LIMIT_PER_SESSION", "OTEL_*",
            "TRACELINE_OTLP_MAX_CONCURRENT_REQUESTS", "TRACELINE_OTLP_MAX_IN_FLIGHT_BYTES",
        ] {
            #expect(help.contains(name), "\(name)")
        }
    }
}
