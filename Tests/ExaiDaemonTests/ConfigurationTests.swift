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
        #expect([configuration.globalMaxInflight, configuration.kimiMaxInflight, configuration.glmMaxInflight, configuration.sessionMaxInflight] == [24, 6, 4, 8])
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
            "EXAI_WS_PORT": "9000", "METRICS_PORT": "0", "EXAI_WS_CALL_TIMEOUT": "2.5", "EXAI_WS_GLM_MAX_INFLIGHT": "zero",
            "EXAI_WS_HELLO_TIMEOUT": "-1", "RATE_LIMIT_PER_SESSION": "10/2", "RATE_LIMIT_PER_IP": "ten", "EXAI_WS_COMPAT_TEXT": "false",
            "MOONSHOT_API_KEY": "k1", "ZHIPUAI_API_KEY": "k2", "GLM_API_URL": "ftp://nope", "EXAI_WS_DISABLE_COALESCE_FOR_TOOLS": "chat, version",
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

    @Test("--help lists every variable the daemon reads")
    func help() {
        let help = DaemonConfiguration.helpText
        for name in ["EXAI_WS_HOST", "EXAI_WS_PORT", "METRICS_PORT", "EXAI_WS_TOKEN", "KIMI_API_URL", "KIMI_API_KEY", "GLM_API_URL",
                     "GLM_API_KEY", "EXAI_WS_GLOBAL_MAX_INFLIGHT", "EXAI_WS_CALL_TIMEOUT", "RATE_LIMIT_PER_SESSION", "OTEL_*"] {
            #expect(help.contains(name), "\(name)")
        }
    }
}
