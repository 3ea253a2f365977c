// Command directory-sync measures a directory sync of 100,000 users and 1,000 nested groups
// from a real OpenLDAP slapd (internal/testutil/slapdtest: LDAPS, Active Directory's
// attributes, a server size limit of 1,000 so that only paged searches read everything) into
// Sekisho's SQLite store, in users per second of the first (full) sync, against the rate at
// which OpenLDAP's own client, ldapsearch, pulls the same entries (the same two searches: users
// and groups, the same attributes, filter, page size, bind and TLS) from the same slapd in the
// same run: the ratio is the share of the directory's own read speed the sync keeps. It also
// prints the second (no-change) sync's rate, the peak Go heap in use during each sync, bytes
// per user, VmHWM and the seeding time. -cpuprofile and -memprofile profile the first sync
// (or, with -profile-sync 2, the second).
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sekisho/sekisho/bench/benchjson"
	"github.com/sekisho/sekisho/bench/benchutil"
	"github.com/sekisho/sekisho/internal/config"
	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/directory/ldapconn"
	"github.com/sekisho/sekisho/internal/store/sqlite"
	"github.com/sekisho/sekisho/internal/testutil/slapdtest"
)

const (
	suffix   = slapdtest.Suffix
	people   = "ou=people," + suffix
	groupsOU = "ou=groups," + suffix
	svcDN    = "cn=sekisho,ou=service," + suffix
	svcPW    = "service-secret-for-bench"
	// The filters and attributes the connector is configured with (AD flavor, the tests'
	// filters, nesting expanded from the groups' member attribute: slapd has no in-chain rule).
	userFilter  = "(objectClass=sekishoADUser)"
	groupFilter = "(objectClass=groupOfNames)"
)

var (
	nUsers      = flag.Int("users", 100_000, "users in the directory")
	nGroups     = flag.Int("groups", 1000, "groups: 1% departments, 9% divisions, 90% teams (team ⊂ division ⊂ department)")
	pageSize    = flag.Int("page", 500, "paged-results page size of both the connector and ldapsearch (the connector's default)")
	refRuns     = flag.Int("ref-runs", 3, "measured ldapsearch runs (the median is the reference)")
	cpuProfile  = flag.String("cpuprofile", "", "write a CPU profile of the sync -profile-sync to this file")
	memProfile  = flag.String("memprofile", "", "write a heap profile (in use at the peak of the sync -profile-sync, sampled every 10 ms) to this file")
	profileSync = flag.Int("profile-sync", 1, "the sync -cpuprofile and -memprofile profile: 1 (the first) or 2 (the no-change one)")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "directory-sync:", err)
		os.Exit(1)
	}
}

func run() error {
	if what := slapdtest.Missing(); what != "" {
		return fmt.Errorf("%s is missing; install with %s (scripts/install-peers.sh)", what, slapdtest.Install)
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "sekisho-bench-directory-sync")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// Seed: LDIF written to a file, loaded with slapadd, then slapd started on it.
	t0 := time.Now()
	ldif := filepath.Join(dir, "seed.ldif")
	g, err := writeLDIF(ldif, *nUsers, *nGroups)
	if err != nil {
		return err
	}
	tLDIF := time.Since(t0)
	ldapDir := filepath.Join(dir, "slapd")
	if err := os.Mkdir(ldapDir, 0o700); err != nil {
		return err
	}
	quiet := 0
	srv, err := slapdtest.Start(slapdtest.Options{Dir: ldapDir, SeedLDIF: ldif, MaxSizeBytes: 4 << 30, DebugLevel: &quiet,
		// Active Directory's MaxPageSize is 1,000: an unpaged search stops there.
		SizeLimit: "size.soft=1000 size.hard=1000 size.pr=1000 size.prtotal=unlimited"})
	if srv != nil {
		defer srv.Stop()
	}
	if err != nil {
		return err
	}
	seed := time.Since(t0)
	st, _ := os.Stat(ldif)
	fmt.Printf("seeded slapd with %d users, %d groups (%d member values; %d memberships once nesting is expanded): LDIF %.1f MB in %.2fs, slapadd + start %.2fs, %.2fs in all\n",
		*nUsers, *nGroups, g.memberValues, g.expanded, float64(st.Size())/1e6, tLDIF.Seconds(), (seed - tLDIF).Seconds(), seed.Seconds())
	_ = os.Remove(ldif)

	// The reference: ldapsearch pulling the same entries, one warm-up run (which also checks
	// the counts), then -ref-runs measured runs before the syncs and as many after them; the
	// reference is the median of all.
	if err := os.WriteFile(filepath.Join(dir, "bind.secret"), []byte(svcPW), 0o600); err != nil {
		return err
	}
	search := func(base, filter string, attrs []string, out *os.File) (time.Duration, time.Duration, error) {
		args := append([]string{"-LLL", "-x", "-H", srv.LDAPSURL, "-D", svcDN, "-y", filepath.Join(dir, "bind.secret"),
			"-o", "ldif-wrap=no", "-E", fmt.Sprintf("pr=%d/noprompt", *pageSize), "-b", base, "-s", "sub", filter}, attrs...)
		cmd := exec.Command("ldapsearch", args...)
		cmd.Env = srv.ToolEnv()
		cmd.Stdout = out
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			return 0, 0, fmt.Errorf("ldapsearch -b %s: %w: %s", base, err, stderr.String())
		}
		return time.Since(start), cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
	}
	userAttrs := []string{"objectGUID", "userPrincipalName", "mail", "displayName", "userAccountControl"}
	groupAttrs := []string{"cn", "description", "member"}
	refOnce := func(out *os.File) (refRun, error) {
		var r refRun
		s0 := procCPU(srv.Pid())
		var err error
		if r.users, r.cpu, err = search(people, userFilter, userAttrs, out); err != nil {
			return r, err
		}
		dg, cg, err := search(groupsOU, groupFilter, groupAttrs, out)
		r.groups, r.cpu, r.slapdCPU = dg, r.cpu+cg, procCPU(srv.Pid())-s0
		return r, err
	}
	warm, err := os.Create(filepath.Join(dir, "warm.ldif"))
	if err != nil {
		return err
	}
	if _, err := refOnce(warm); err != nil {
		return err
	}
	warm.Close()
	if dns, err := countDNs(warm.Name()); err != nil || dns != *nUsers+*nGroups {
		return fmt.Errorf("ldapsearch returned %d entries, want %d (%v)", dns, *nUsers+*nGroups, err)
	}
	_ = os.Remove(warm.Name())
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	var refs []refRun
	refRound := func() error {
		for range *refRuns {
			r, err := refOnce(devnull)
			if err != nil {
				return err
			}
			refs = append(refs, r)
		}
		return nil
	}
	if err := refRound(); err != nil {
		return err
	}

	// Sekisho: the LDAP connector as a deployment configures it, a fresh SQLite store.
	if err := os.WriteFile(filepath.Join(dir, "ldap-bind.secret"), []byte(svcPW+"\n"), 0o600); err != nil {
		return err
	}
	l := config.LDAP{URL: srv.LDAPSURL, CAFile: srv.CAFile, BindDN: svcDN, BindPasswordFile: "ldap-bind.secret",
		UserBaseDNs: []string{people}, GroupBaseDNs: []string{groupsOU}, UserFilter: userFilter, GroupFilter: groupFilter,
		NestedGroups: "expand", PageSize: *pageSize, Timeout: config.Duration(5 * time.Minute)}
	conn, err := ldapconn.New(l, func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}, os.Getenv)
	if err != nil {
		return err
	}
	l = l.WithDefaults()
	st2, err := sqlite.Open(ctx, filepath.Join(dir, "store.db"))
	if err != nil {
		return err
	}
	defer st2.Close()
	d := directory.New(st2, directory.DefaultParams, directory.PasswordPolicy{MinLength: 8})
	if err := d.AddConnector(directory.ConnectorSettings{Connector: conn, DisableGrace: l.DisableGrace.D(),
		MaxDisablePercent: float64(l.MaxDisablePercent)}); err != nil {
		return err
	}

	// The connector's read alone (no store), for the breakdown.
	runtime.GC()
	snapStart, snapCPU0, snapSlapd0 := time.Now(), benchutil.CPUTime(), procCPU(srv.Pid())
	snap, err := conn.Snapshot(ctx)
	if err != nil {
		return err
	}
	snapDur, snapCPU, snapSlapd := time.Since(snapStart), benchutil.CPUTime()-snapCPU0, procCPU(srv.Pid())-snapSlapd0
	if len(snap.Users) != *nUsers || len(snap.Groups) != *nGroups {
		return fmt.Errorf("snapshot: %d users, %d groups, want %d, %d", len(snap.Users), len(snap.Groups), *nUsers, *nGroups)
	}
	snap = directory.Snapshot{}
	snapRate := float64(*nUsers) / snapDur.Seconds()
	fmt.Printf("connector read alone (Snapshot, no store): %.2fs = %.0f users/s; Sekisho CPU %.2fs, slapd CPU %.2fs\n",
		snapDur.Seconds(), snapRate, snapCPU.Seconds(), snapSlapd.Seconds())

	profiles := func(n int) (string, string) {
		if n == *profileSync {
			return *cpuProfile, *memProfile
		}
		return "", ""
	}
	cpu1, mem1 := profiles(1)
	first, err := measureSync(ctx, d, srv.Pid(), cpu1, mem1)
	if err != nil {
		return err
	}
	r := first.rep
	if r.Created != *nUsers || r.GroupsCreated != *nGroups || r.MembersAdded != g.expanded || r.Skipped != 0 || r.Conflicts != 0 {
		return fmt.Errorf("first sync: %+v, want %d users, %d groups, %d memberships created", r, *nUsers, *nGroups, g.expanded)
	}
	fmt.Printf("first sync:  %d users created (%d disabled in the directory), %d groups, %d memberships in %.2fs = %.0f users/s; Sekisho CPU %.2fs, slapd CPU %.2fs; peak heap in use %.1f MiB (%.1f MiB before), %.0f bytes/user\n",
		r.Created, g.disabled, r.GroupsCreated, r.MembersAdded, first.dur.Seconds(), first.rate(), first.cpu.Seconds(), first.slapdCPU.Seconds(),
		mib(first.peak), mib(first.base), first.perUser())
	cpu2, mem2 := profiles(2)
	second, err := measureSync(ctx, d, srv.Pid(), cpu2, mem2)
	if err != nil {
		return err
	}
	r = second.rep
	if r.Unchanged != *nUsers || r.Created+r.Updated+r.MembersAdded+r.MembersRemoved+r.GroupsCreated != 0 {
		return fmt.Errorf("second sync changed something: %+v", r)
	}
	fmt.Printf("second sync: %d users unchanged, no membership changed, in %.2fs = %.0f users/s; Sekisho CPU %.2fs, slapd CPU %.2fs; peak heap in use %.1f MiB, %.0f bytes/user\n",
		r.Unchanged, second.dur.Seconds(), second.rate(), second.cpu.Seconds(), second.slapdCPU.Seconds(), mib(second.peak), second.perUser())
	if err := refRound(); err != nil {
		return err
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].rate() < refs[j].rate() })
	mid := refs[len(refs)/2]
	ref := mid.rate()
	if len(refs)%2 == 0 {
		ref = (refs[len(refs)/2-1].rate() + mid.rate()) / 2
	}
	fmt.Printf("ldapsearch (LDAPS, paged %d, users then groups, LDIF to /dev/null): %.0f users/s, median of %d runs before and after the syncs (%.0f–%.0f); median run: users %.2fs + groups %.2fs, ldapsearch CPU %.2fs, slapd CPU %.2fs\n",
		*pageSize, ref, len(refs), refs[0].rate(), refs[len(refs)-1].rate(), mid.users.Seconds(), mid.groups.Seconds(), mid.cpu.Seconds(), mid.slapdCPU.Seconds())
	fmt.Printf("ratios to ldapsearch: first sync %.3f, second sync %.3f, connector read alone %.3f\n", first.rate()/ref, second.rate()/ref, snapRate/ref)
	hwm := vmHWM()
	fmt.Printf("process peak RSS (VmHWM, whole run): %.1f MiB; store file %.1f MB\n", mib(hwm), fileMB(filepath.Join(dir, "store.db"))+fileMB(filepath.Join(dir, "store.db-wal")))

	benchjson.Print(benchjson.Result{Bench: "directory-sync", Value: first.rate(), Unit: fmt.Sprintf("users/s (first sync of %d users and %d groups, slapd → SQLite)", *nUsers, *nGroups),
		Reference:      fmt.Sprintf("ldapsearch pulling the same users and groups from the same slapd (LDAPS, paged %d), same run", *pageSize),
		ReferenceValue: ref,
		Extra: map[string]any{"users": *nUsers, "groups": *nGroups, "memberships": g.expanded,
			"first_sync_seconds": round2(first.dur.Seconds()), "second_sync_users_per_s": round0(second.rate()),
			"second_sync_seconds": round2(second.dur.Seconds()), "second_sync_ratio": round3(second.rate() / ref),
			"connector_read_users_per_s": round0(snapRate), "connector_read_ratio": round3(snapRate / ref),
			"peak_heap_inuse_mib": round1(mib(first.peak)), "second_sync_peak_heap_inuse_mib": round1(mib(second.peak)),
			"bytes_per_user": round0(first.perUser()), "vmhwm_mib": round1(mib(hwm)), "seed_seconds": round2(seed.Seconds()),
			"page_size": *pageSize}})
	return nil
}

type syncRun struct {
	rep        directory.SyncReport
	dur        time.Duration
	cpu        time.Duration // Sekisho's (this process's) CPU time, the memory sampler's included
	slapdCPU   time.Duration
	base, peak uint64 // HeapInuse before the sync (after a GC) and its maximum during it
}

func (s syncRun) rate() float64 { return float64(*nUsers) / s.dur.Seconds() }

// perUser is the heap the sync added at its peak, per user.
func (s syncRun) perUser() float64 { return float64(s.peak-min(s.base, s.peak)) / float64(*nUsers) }

// measureSync runs one sync while sampling runtime.MemStats.HeapInuse every 10 ms.
func measureSync(ctx context.Context, d *directory.Directory, slapdPid int, cpuProfile, memProfile string) (syncRun, error) {
	var run syncRun
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	run.base, run.peak = ms.HeapInuse, ms.HeapInuse
	stop, done := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var profiled uint64
	go func() {
		defer close(done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			runtime.ReadMemStats(&ms)
			mu.Lock()
			run.peak = max(run.peak, ms.HeapInuse)
			mu.Unlock()
			if memProfile != "" && ms.HeapInuse > profiled*11/10 {
				// A new peak: the heap profile then is what the peak is made of.
				profiled = ms.HeapInuse
				if f, err := os.Create(memProfile); err == nil {
					_ = pprof.Lookup("heap").WriteTo(f, 0)
					f.Close()
				}
			}
		}
	}()
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return run, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return run, err
		}
	}
	start, cpu0, slapd0 := time.Now(), benchutil.CPUTime(), procCPU(slapdPid)
	rep, err := d.Sync(ctx, ldapconn.ID, directory.SyncOptions{Actor: "bench", Via: "cli"})
	dur := time.Since(start)
	run.cpu, run.slapdCPU = benchutil.CPUTime()-cpu0, procCPU(slapdPid)-slapd0
	if cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	close(stop)
	<-done
	runtime.ReadMemStats(&ms)
	mu.Lock()
	defer mu.Unlock()
	run.peak = max(run.peak, ms.HeapInuse)
	run.rep, run.dur = rep, dur
	if err != nil {
		return run, fmt.Errorf("sync: %w (report %+v)", err, rep)
	}
	return run, nil
}

// refRun is one ldapsearch run: the users' search, the groups' search, the CPU time of both
// ldapsearch processes and of slapd meanwhile.
type refRun struct{ users, groups, cpu, slapdCPU time.Duration }

func (r refRun) rate() float64 { return float64(*nUsers) / (r.users + r.groups).Seconds() }

// procCPU is the user+system CPU time process pid has used so far (0 if unreadable).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// "pid (comm) state ppid …": comm may hold spaces, so count the fields after its ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	// f[0] is field 3 (state); utime is field 14, stime field 15, in USER_HZ (100 on Linux).
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100
}

type generated struct {
	memberValues int // member attribute values in the groups
	expanded     int // (user, group) memberships once nesting is expanded
	disabled     int // users with ACCOUNTDISABLE
}

// writeLDIF writes the directory: the suffix, three OUs, the service account, nUsers users
// (inetOrgPerson + AD's objectGUID, userPrincipalName, userAccountControl; 1% disabled) and
// nGroups groupOfNames: teams (90%) with users as members, each user in two teams; divisions
// (9%) with teams as members; departments (1%) with divisions as members.
func writeLDIF(path string, nUsers, nGroups int) (generated, error) {
	var g generated
	f, err := os.Create(path)
	if err != nil {
		return g, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintf(w, "dn: %s\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n", suffix)
	for _, ou := range []string{"people", "groups", "service"} {
		fmt.Fprintf(w, "dn: ou=%s,%s\nobjectClass: organizationalUnit\nou: %s\n\n", ou, suffix, ou)
	}
	fmt.Fprintf(w, "dn: %s\nobjectClass: person\ncn: sekisho\nsn: service\nuserPassword: %s\n\n", svcDN, svcPW)
	nDepts := max(1, nGroups/100)
	nDivs := max(1, nGroups*9/100)
	nTeams := nGroups - nDepts - nDivs
	if nTeams < 2 {
		return g, fmt.Errorf("-groups %d leaves fewer than 2 teams", nGroups)
	}
	teamsOf := func(i int) [2]int {
		a := i % nTeams
		return [2]int{a, (a + 1 + (i/nTeams)%(nTeams-1)) % nTeams}
	}
	members := make([][]int, nTeams)
	for i := range nUsers {
		uid := fmt.Sprintf("u%06d", i)
		id := sha256.Sum256([]byte(uid))
		uac := 512
		if i%100 == 99 {
			uac = 514 // ACCOUNTDISABLE
			g.disabled++
		}
		fmt.Fprintf(w, "dn: uid=%s,%s\nobjectClass: inetOrgPerson\nobjectClass: sekishoADUser\nuid: %s\ncn: User %d\nsn: %d\n", uid, people, uid, i, i)
		fmt.Fprintf(w, "givenName: User\ndisplayName: User %d Example\nmail: %s@example.com\nuserPrincipalName: %s@example.com\n", i, uid, uid)
		fmt.Fprintf(w, "userAccountControl: %d\nobjectGUID:: %s\n\n", uac, base64.StdEncoding.EncodeToString(id[:16]))
		for _, t := range teamsOf(i) {
			members[t] = append(members[t], i)
		}
	}
	group := func(cn string, member []string) {
		fmt.Fprintf(w, "dn: cn=%s,%s\nobjectClass: groupOfNames\ncn: %s\ndescription: the %s group\n", cn, groupsOU, cn, cn)
		for _, m := range member {
			fmt.Fprintf(w, "member: %s\n", m)
		}
		w.WriteString("\n")
		g.memberValues += len(member)
	}
	divOf := func(t int) int { return t * nDivs / nTeams }
	deptOf := func(d int) int { return d * nDepts / nDivs }
	teamCN := func(t int) string { return fmt.Sprintf("team-%03d", t) }
	divCN := func(d int) string { return fmt.Sprintf("division-%02d", d) }
	for t, us := range members {
		dns := make([]string, len(us))
		for k, i := range us {
			dns[k] = fmt.Sprintf("uid=u%06d,%s", i, people)
		}
		group(teamCN(t), dns)
	}
	divTeams, deptDivs := make([][]string, nDivs), make([][]string, nDepts)
	for t := range nTeams {
		divTeams[divOf(t)] = append(divTeams[divOf(t)], "cn="+teamCN(t)+","+groupsOU)
	}
	for d := range nDivs {
		group(divCN(d), divTeams[d])
		deptDivs[deptOf(d)] = append(deptDivs[deptOf(d)], "cn="+divCN(d)+","+groupsOU)
	}
	for d := range nDepts {
		group(fmt.Sprintf("department-%d", d), deptDivs[d])
	}
	// Expanded memberships: the distinct teams, divisions and departments of each user.
	for i := range nUsers {
		ts := teamsOf(i)
		g.expanded += 2
		dv := [2]int{divOf(ts[0]), divOf(ts[1])}
		if dv[0] != dv[1] {
			g.expanded += 2
			if deptOf(dv[0]) != deptOf(dv[1]) {
				g.expanded += 2
			} else {
				g.expanded++
			}
		} else {
			g.expanded += 2
		}
	}
	if err := w.Flush(); err != nil {
		return g, err
	}
	return g, f.Close()
}

// countDNs counts the entries of an LDIF file.
func countDNs(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	n := 0
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "dn: ") {
			n++
		}
	}
	return n, sc.Err()
}

func vmHWM() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

func fileMB(path string) float64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return float64(st.Size()) / 1e6
}

func round0(v float64) float64 { return float64(int64(v + 0.5)) }
func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }
func round2(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }
func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }
