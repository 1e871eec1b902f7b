package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"git.awesomike.com/pub/waymaker-client/go/cluster"
)

type memberJSON struct {
	ID            string `json:"id"`
	RaftAddress   string `json:"raft_address"`
	ClientAddress string `json:"client_address"`
	Suffrage      string `json:"suffrage"`
	Leader        bool   `json:"leader"`
}

type clusterStatusJSON struct {
	NodeID        string       `json:"node_id"`
	State         string       `json:"state"`
	LeaderID      string       `json:"leader_id"`
	LeaderAddress string       `json:"leader_address"`
	Term          uint64       `json:"term"`
	LastIndex     uint64       `json:"last_index"`
	CommitIndex   uint64       `json:"commit_index"`
	AppliedIndex  uint64       `json:"applied_index"`
	Members       []memberJSON `json:"members"`
}

func membersOf(ms []cluster.Member) []memberJSON {
	out := []memberJSON{}
	for _, m := range ms {
		out = append(out, memberJSON{ID: m.ID, RaftAddress: m.RaftAddress, ClientAddress: m.ClientAddress, Suffrage: m.Suffrage, Leader: m.Leader})
	}
	return out
}

// orDash keeps a table cell from vanishing when a value is unknown.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func membersTable(w io.Writer, ms []memberJSON) {
	row(w, "ID", "SUFFRAGE", "LEADER", "RAFT ADDRESS", "CLIENT ADDRESS")
	for _, m := range ms {
		lead := ""
		if m.Leader {
			lead = "*"
		}
		row(w, m.ID, m.Suffrage, orDash(lead), m.RaftAddress, orDash(m.ClientAddress))
	}
}

func (a *app) clusterStatus(cmd *cobra.Command) (cluster.Status, error) {
	ctx, cancel := a.oneShot(cmd)
	defer cancel()
	c, err := a.connect(ctx)
	if err != nil {
		return cluster.Status{}, err
	}
	return c.Cluster().Status(ctx)
}

func (a *app) clusterCmd() *cobra.Command {
	status := &cobra.Command{
		Use:   "status",
		Short: "what the answering node knows: its state, the leader, the term and its log indexes",
		Long: `status asks one node (whichever of --server answers) what it knows of the
cluster: its own id and raft state, the leader it follows, the current term,
and its last, committed and applied log indexes. Pass a single --server to
ask one node in particular.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.clusterStatus(cmd)
			if err != nil {
				return err
			}
			j := clusterStatusJSON{NodeID: st.NodeID, State: st.State, LeaderID: st.LeaderID, LeaderAddress: st.LeaderAddress,
				Term: st.Term, LastIndex: st.LastIndex, CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIndex,
				Members: membersOf(st.Members)}
			return a.emit(j, func(w io.Writer) {
				leader := orDash(j.LeaderID)
				if j.LeaderAddress != "" {
					leader += " (" + j.LeaderAddress + ")"
				}
				kvTable(w, "node", j.NodeID, "state", j.State, "leader", leader, "term", j.Term,
					"last index", j.LastIndex, "commit index", j.CommitIndex, "applied index", j.AppliedIndex,
					"members", len(j.Members))
			})
		},
	}
	members := &cobra.Command{
		Use: "members", Short: "the cluster's members; * marks the leader", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.clusterStatus(cmd)
			if err != nil {
				return err
			}
			ms := membersOf(st.Members)
			return a.emit(ms, func(w io.Writer) { membersTable(w, ms) })
		},
	}
	// add makes add-voter and add-nonvoter. call adds the member and says
	// what it is now (a voter is staged first: see cluster.Client.AddVoter).
	add := func(use, short, long string, call func(cmd *cobra.Command, c *cluster.Client, id, raftAddr, clientAddr string) (string, error)) *cobra.Command {
		return &cobra.Command{
			Use:   use + " ID RAFTADDR [CLIENTADDR]",
			Short: short,
			Long: short + `. RAFTADDR is where the other nodes reach its raft
transport (its --raft-advertise); CLIENTADDR, where clients reach it, is
optional: the node announces it when it starts. Re-adding a member as it is
changes nothing.` + long,
			Args: cobra.RangeArgs(2, 3),
			RunE: func(cmd *cobra.Command, args []string) error {
				id, raftAddr, clientAddr := args[0], args[1], ""
				if len(args) == 3 {
					clientAddr = args[2]
				}
				ctx, cancel := a.oneShot(cmd)
				defer cancel()
				c, err := a.connect(ctx)
				if err != nil {
					return err
				}
				cmd.SetContext(ctx)
				suffrage, err := call(cmd, c.Cluster(), id, raftAddr, clientAddr)
				if err != nil {
					return err
				}
				text := fmt.Sprintf("added %s %s at %s", suffrage, id, raftAddr)
				if suffrage == "staging" {
					text = fmt.Sprintf("added %s at %s, staging: the leader promotes it to voter once it has caught up and stayed healthy (wm cluster members shows its health; --wait waits for it)", id, raftAddr)
				}
				j := map[string]any{"id": id, "raft_address": raftAddr, "client_address": clientAddr, "suffrage": suffrage, "added": true}
				return a.emit(j, func(w io.Writer) { fmt.Fprintln(w, text) })
			},
		}
	}
	var waitVoter bool
	addVoter := add("add-voter", "add a voting member", `

The member is staged first: added as a non-voter that catches up from the
leader, which promotes it to voter once it has caught up and stayed healthy
for the stabilization time. add-voter returns once it is staged, and says
whether it is a voter yet; --wait waits for the promotion (within --timeout).`,
		func(cmd *cobra.Command, c *cluster.Client, id, raftAddr, clientAddr string) (string, error) {
			ctx := cmd.Context()
			if err := c.AddVoter(ctx, id, raftAddr, clientAddr); err != nil {
				return "", err
			}
			if waitVoter {
				if _, err := c.WaitVoter(ctx, id); err != nil {
					return "", err
				}
				return "voter", nil
			}
			// The leader applied the change before it answered; a follower
			// may not have yet, so an id not (yet) listed is still staging.
			st, err := c.Status(ctx)
			if err != nil {
				return "", err
			}
			for _, m := range st.Members {
				if m.ID == id && m.Suffrage == "voter" {
					return "voter", nil
				}
			}
			return "staging", nil
		})
	addVoter.Flags().BoolVar(&waitVoter, "wait", false, "wait until the leader has promoted the member to voter")
	addNonvoter := add("add-nonvoter", "add a member that receives the log but does not vote", "",
		func(cmd *cobra.Command, c *cluster.Client, id, raftAddr, clientAddr string) (string, error) {
			return "nonvoter", c.AddNonvoter(cmd.Context(), id, raftAddr, clientAddr)
		})
	remove := &cobra.Command{
		Use: "remove ID", Short: "remove a member (the last voter cannot be removed)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.simple(cmd, func(c clientT) error { return c.Cluster().RemoveServer(cmd.Context(), args[0]) },
				map[string]any{"id": args[0], "removed": true}, "removed "+args[0])
		},
	}
	transfer := &cobra.Command{
		Use:   "transfer-leader [ID]",
		Short: "hand leadership to voter ID, or without ID to the most up-to-date voter",
		Long: `transfer-leader asks the leader to hand over to voter ID (without ID, raft
picks the most up-to-date voter) and waits, within --timeout, until a new
leader is known; it prints that leader's id.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := ""
			if len(args) == 1 {
				id = args[0]
			}
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			c, err := a.connect(ctx)
			if err != nil {
				return err
			}
			leader, err := c.Cluster().TransferLeadership(ctx, id)
			if err != nil {
				return err
			}
			text := "leader is now " + leader
			if leader == "" {
				text = "leadership transfer started; no new leader known yet (see wm cluster status)"
			}
			return a.emit(map[string]any{"leader_id": leader}, func(w io.Writer) { fmt.Fprintln(w, text) })
		},
	}
	return group("cluster", "cluster membership and leadership", status, members, addVoter, addNonvoter, remove, transfer)
}
