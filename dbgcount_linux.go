package httpev

import (
	"fmt"
	"os"
	"sync/atomic"
)

var dbgInline, dbgGo, dbgSlow, dbgHand atomic.Int64

func DbgCounts() string {
	return fmt.Sprintf("inline=%d go=%d slow=%d handoff=%d", dbgInline.Load(), dbgGo.Load(), dbgSlow.Load(), dbgHand.Load())
}

var _ = os.Stderr
