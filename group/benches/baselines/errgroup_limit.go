// Go's errgroup under SetLimit, the baseline of cohort's `limit` benchmark
// (group/benches/fan_out.rs): 10,000 children, at most 100 at a time, each
// yielding once and returning its index; the median of ROUNDS rounds (200
// unless set: callgrind counts instructions over 1 and 6).
//
// Not part of the build. With Debian's golang-go and
// golang-golang-x-sync-dev packages:
//
//	GO111MODULE=off GOPATH=/usr/share/gocode GOMAXPROCS=2 \
//	    go run group/benches/baselines/errgroup_limit.go
package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"
)

const children = 10_000

func limited() int64 {
	g, _ := errgroup.WithContext(context.Background())
	g.SetLimit(100)
	out := make([]int64, children)
	for i := 0; i < children; i++ {
		i := i
		g.Go(func() error {
			runtime.Gosched()
			out[i] = int64(i)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		panic(err)
	}
	var sum int64
	for _, v := range out {
		sum += v
	}
	return sum
}

func main() {
	rounds := 200
	if n, err := strconv.Atoi(os.Getenv("ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	times := make([]float64, 0, rounds)
	for r := 0; r < rounds; r++ {
		start := time.Now()
		if limited() != children*(children-1)/2 {
			panic("wrong sum")
		}
		times = append(times, float64(time.Since(start).Nanoseconds())/1e6)
	}
	sort.Float64s(times)
	fmt.Printf("errgroup SetLimit(100), %d children, GOMAXPROCS=%d: median %.3f ms\n",
		children, runtime.GOMAXPROCS(0), times[len(times)/2])
}
