// Package cluster reports and changes the membership of a waymaker
// cluster: who the members are, who leads, and adding, removing and
// moving leadership between nodes at runtime.
//
// A client made with waymaker.ConnectMulti reaches every node; any node
// answers Status with what it knows, and membership changes run on the
// leader (a follower forwards them). The SDK never needs to know who
// leads: transport follows not_leader hints and retries calls whose
// outcome a failover left unknown.
//
//	members, err := client.Cluster().Status(ctx)
//	err = client.Cluster().AddVoter(ctx, "node4", "10.0.0.4:7001", "10.0.0.4:8818") // staged
//	_, err = client.Cluster().WaitVoter(ctx, "node4")                                 // promoted
//
// A runnable example is in server/e2e/cluster_example_test.go.
package cluster
