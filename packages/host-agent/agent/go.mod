module github.com/berth-sdk/berth/packages/host-agent/agent

go 1.24
