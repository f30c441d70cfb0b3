package controllers

import (
	"os"
	"strconv"

	"go.uber.org/zap/zapcore"

	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/config"
)

// zapLevel is the controller log level in tests: quiet unless ARCTURUS_TEST_LOG=N.
func zapLevel() zapcore.Level {
	n, _ := strconv.Atoi(os.Getenv("ARCTURUS_TEST_LOG"))
	if n == 0 {
		return zapcore.Level(2) // errors only
	}
	return zapcore.Level(-n)
}

// ctrlConfigSkipNameValidation lets tests start several managers with the same
// controller names in one process.
func ctrlConfigSkipNameValidation() config.Controller {
	return config.Controller{SkipNameValidation: ptr.To(true)}
}
